"""One thread for every model call of a server: concurrent searches never run two forwards at once on
the same cores, and the photos of searches that arrive while the model is busy go through it together,
in one batch.

A batch is what is waiting when the model frees up (at most `max_batch_images`; with `max_wait_s`,
the worker also waits that long for more): a lone search is never held back, and under load each
forward carries several searches' views, which costs less per image than one forward each (the
batch-1 and batch-16 rates: docs/benchmarks.md#the-real-model-on-the-cpu). The images are made ready
for the model (resized, normalised) on the callers' threads, in parallel; the worker only runs the
forward. Text queries run on the worker too, one call at a time, and so does the product
localiser's net, for the photos of all the searches queued for it in one call
(ProductLocaliser.find_all_each: 8 photos in 146 ms against 191 one at a time).

While gathering a batch of views, the worker runs the localiser calls queued behind it first, and then
waits (at most `follow_s` in all) for the views of the searches whose product it has just found: they
arrive a few milliseconds later, and would otherwise miss this forward and wait for the whole next
one. Under load the searches then move in step, one localiser call and one forward for all of them,
instead of in two halves that alternate
(docs/experiments/2026-12-05-half-precision-and-int8.md#searches-in-step)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

from snapbuy.crops import Box
from snapbuy.embed.base import Embedder, ModelIdentity, SplitEmbedder
from snapbuy.search.query_encoder import BatchLocaliser, Localiser

T = TypeVar("T")


@dataclass
class _Photos:
    pixels: torch.Tensor
    searcher: int  # the thread of the search they belong to
    future: Future[np.ndarray] = field(default_factory=Future)


@dataclass
class _Call:
    run: Callable[[], Any]
    future: Future[Any] = field(default_factory=Future)


@dataclass
class _Locate:
    """A search's photo for the localiser; the search sends its views once it has the boxes."""

    localiser: Localiser
    image: Image.Image
    first_look: Image.Image | None  # the image resized for the localiser, on the search's thread
    searcher: int  # the thread of the search
    future: Future[list[tuple[Box, float]]] = field(default_factory=Future)


_STOP = object()
# A search whose views have not come this long after its localiser call has stopped (an error, its
# deadline): it is no longer waited for.
VIEWS_EXPECTED_FOR_S = 1.0


class ModelWorker:
    """Runs model work on its own thread; see the module's notes. `close()` stops it after the work
    already queued."""

    def __init__(
        self,
        embedder: Embedder,
        max_batch_images: int = 32,
        max_wait_s: float = 0.0,
        follow_s: float = 0.0,
    ) -> None:
        if max_batch_images < 1 or max_wait_s < 0 or follow_s < 0:
            raise ValueError("max_batch_images must be at least 1, max_wait_s and follow_s at least 0")
        self.embedder = embedder
        self.max_batch_images = max_batch_images
        self.max_wait_s = max_wait_s
        self.follow_s = follow_s
        # Searches whose localiser call has returned and whose views the worker has not yet taken:
        # their thread -> when the call returned. Read and written on the worker thread only.
        self._views_expected: dict[int, float] = {}
        self.batches = 0  # forwards run for photos, and the images they carried: for the tests and metrics
        self.batched_images = 0
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="snapbuy-model", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        """Model calls waiting for the worker (not counting the one it runs)."""
        return self._queue.qsize()

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """function(*args) on the worker thread, alone; its result or its exception here."""
        job = _Call(lambda: function(*args))
        self._queue.put(job)
        result: T = job.future.result()
        return result

    def locate(self, localiser: Localiser, image: Image.Image) -> list[tuple[Box, float]]:
        """localiser.find_all(image) on the worker thread, together with the other searches' photos
        queued for the same localiser (resized for it here first, when it allows); this thread's
        search sends its views to embed_images next."""
        first_look = localiser.first_look(image) if isinstance(localiser, BatchLocaliser) else None
        job = _Locate(localiser, image, first_look, threading.get_ident())
        self._queue.put(job)
        return job.future.result()

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not isinstance(self.embedder, SplitEmbedder):
            return self.call(self.embedder.embed_images, images)
        if not images:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        job = _Photos(self.embedder.prepare_images(images), threading.get_ident())
        self._queue.put(job)
        return job.future.result()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        held: list[object] = []  # jobs taken while gathering a batch, run after it in order
        while True:
            job = held.pop(0) if held else self._queue.get()
            if job is _STOP:
                return
            if isinstance(job, _Call):
                _settle(job.future, job.run)
            elif isinstance(job, _Locate):
                if (stray := self._run_locates(job)) is not None:
                    held.append(stray)
            elif isinstance(job, _Photos):
                self._views_expected.pop(job.searcher, None)
                self._run_batch(self._gather(job, held))

    def _run_locates(self, first: _Locate) -> object | None:
        """`first` and the localiser jobs queued right behind it for the same localiser, in one call
        when the localiser takes several photos at once. Returns the job of another kind that ended
        the run, taken from the queue and not yet run, if any."""
        jobs, stray = [first], None
        while len(jobs) < self.max_batch_images:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Locate) and job.localiser is first.localiser:
                jobs.append(job)
            else:
                stray = job
                break
        localiser = first.localiser
        try:
            if isinstance(localiser, BatchLocaliser):
                first_looks = [job.first_look for job in jobs if job.first_look is not None]
                found_each = localiser.find_all_each(
                    [job.image for job in jobs], first_looks if len(first_looks) == len(jobs) else None
                )
            else:
                found_each = [localiser.find_all(job.image) for job in jobs]
        except BaseException as exc:
            for job in jobs:
                job.future.set_exception(exc)
            return stray
        now = time.monotonic()
        for job, found in zip(jobs, found_each, strict=True):
            self._views_expected[job.searcher] = now
            job.future.set_result(found)
        return stray

    def _gather(self, first: _Photos, held: list[object]) -> list[_Photos]:
        """`first` and the photo jobs queued behind it, up to max_batch_images (one search with more
        views than that still goes whole), running the calls queued among them and following the
        views they lead to (see the module's notes); a job that cannot join goes to `held`."""
        batch, images = [first], len(first.pixels)
        deadline = time.monotonic() + self.max_wait_s
        followed = 0.0  # seconds spent waiting for expected views
        while images < self.max_batch_images and not held:
            now = time.monotonic()
            wait = deadline - now
            follow = self.follow_s - followed if self._expecting_views(now) else 0.0
            timeout = max(wait, follow)
            try:
                job: object | None = (
                    self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if follow > 0:  # the time waited past the fixed deadline went to following views
                followed += max(0.0, time.monotonic() - max(now, deadline))
            if isinstance(job, _Locate):
                job = self._run_locates(job)  # the job that ended its run, if any, is placed below
            if isinstance(job, _Call):
                _settle(job.future, job.run)
            elif isinstance(job, _Photos) and images + len(job.pixels) <= self.max_batch_images:
                self._views_expected.pop(job.searcher, None)
                batch.append(job)
                images += len(job.pixels)
            elif job is not None:
                held.append(job)
        return batch

    def _expecting_views(self, now: float) -> bool:
        for searcher, since in list(self._views_expected.items()):
            if now - since > VIEWS_EXPECTED_FOR_S:
                del self._views_expected[searcher]
        return bool(self._views_expected)

    def _run_batch(self, batch: list[_Photos]) -> None:
        assert isinstance(self.embedder, SplitEmbedder)
        embedder = self.embedder
        try:
            vectors = embedder.embed_prepared(torch.cat([job.pixels for job in batch]))
        except BaseException as exc:
            for job in batch:
                job.future.set_exception(exc)
            return
        self.batches += 1
        self.batched_images += len(vectors)
        start = 0
        for job in batch:
            job.future.set_result(vectors[start : start + len(job.pixels)])
            start += len(job.pixels)


def _settle(future: Future[Any], run: Callable[[], Any]) -> None:
    try:
        future.set_result(run())
    except BaseException as exc:
        future.set_exception(exc)


class WorkerEmbedder:
    """The Embedder interface over a ModelWorker: what search calls in a server."""

    def __init__(self, worker: ModelWorker) -> None:
        self.worker = worker

    @property
    def identity(self) -> ModelIdentity:
        return self.worker.embedder.identity

    @property
    def dim(self) -> int:
        return self.worker.embedder.dim

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.worker.embed_images(images)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.worker.call(self.worker.embedder.embed_texts, texts)


class WorkerLocaliser:
    """A product localiser whose net runs on the ModelWorker's thread."""

    def __init__(self, localiser: Localiser, worker: ModelWorker) -> None:
        self.localiser = localiser
        self.worker = worker

    def find_all(self, image: Image.Image) -> list[tuple[Box, float]]:
        return self.worker.locate(self.localiser, image)
