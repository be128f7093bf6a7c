"""One thread for every model call of a server: concurrent searches never run two forwards at once on
the same cores, and the photos of searches that arrive while the model is busy go through it together,
in one batch.

A batch is what is waiting when the model frees up (at most `max_batch_images`; with `max_wait_s`,
the worker also waits that long for more): a lone search is never held back, and under load each
forward carries several searches' views, which costs less per image than one forward each (the
batch-1 and batch-16 rates: docs/benchmarks.md#the-real-model-on-the-cpu). The images are made ready
for the model (resized, normalised) on the callers' threads, in parallel; the worker only runs the
forward. The product localiser's net and text queries run on the worker too, one call at a time."""

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
from snapbuy.search.query_encoder import Localiser

T = TypeVar("T")


@dataclass
class _Photos:
    pixels: torch.Tensor
    future: Future[np.ndarray] = field(default_factory=Future)


@dataclass
class _Call:
    run: Callable[[], Any]
    future: Future[Any] = field(default_factory=Future)


_STOP = object()


class ModelWorker:
    """Runs model work on its own thread; see the module's notes. `close()` stops it after the work
    already queued."""

    def __init__(self, embedder: Embedder, max_batch_images: int = 32, max_wait_s: float = 0.0) -> None:
        if max_batch_images < 1 or max_wait_s < 0:
            raise ValueError("max_batch_images must be at least 1 and max_wait_s at least 0")
        self.embedder = embedder
        self.max_batch_images = max_batch_images
        self.max_wait_s = max_wait_s
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

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not isinstance(self.embedder, SplitEmbedder):
            return self.call(self.embedder.embed_images, images)
        if not images:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        job = _Photos(self.embedder.prepare_images(images))
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
            elif isinstance(job, _Photos):
                self._run_batch(self._gather(job, held))

    def _gather(self, first: _Photos, held: list[object]) -> list[_Photos]:
        """`first` and the photo jobs queued behind it, up to max_batch_images (one search with more
        views than that still goes whole); other jobs go to `held`."""
        batch, images = [first], len(first.pixels)
        deadline = time.monotonic() + self.max_wait_s
        while images < self.max_batch_images and not held:
            try:
                wait = deadline - time.monotonic()
                job = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Photos) and images + len(job.pixels) <= self.max_batch_images:
                batch.append(job)
                images += len(job.pixels)
            else:
                held.append(job)
        return batch

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
        return self.worker.call(self.localiser.find_all, image)
