"""The ModelWorker (search/model_worker.py): searches waiting while the model is busy share its next
forward, each gets its own rows back, errors reach every caller, other model calls keep their order,
and the views of a search whose product was just found are followed into the forward being gathered."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from snapbuy.embed.base import ModelIdentity
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.search.model_worker import ModelWorker, WorkerEmbedder, WorkerLocaliser
from tests.api.helpers import wait_for

DIM = 4
IDENTITY = ModelIdentity("fake:split", "fake", "none", DIM, {})


def marked(value: int, count: int = 1) -> list[Image.Image]:
    """Images whose single pixel's red channel carries `value`, so each row can be traced back."""
    return [Image.new("RGB", (1, 1), (value, 0, 0)) for _ in range(count)]


class HeldSplitEmbedder:
    """Prepares an image as its red value; the forward returns one-hot-ish rows of those values and
    records each batch's size. The first forward waits for `release`."""

    identity = IDENTITY
    dim = DIM

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.batch_sizes: list[int] = []
        self.threads: set[str] = set()
        self.fail_next = False

    def prepare_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return torch.tensor([[float(img.getpixel((0, 0))[0])] for img in images])  # type: ignore[index]

    def embed_prepared(self, pixels: torch.Tensor) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        if not self.batch_sizes:
            self.entered.set()
            assert self.release.wait(30), "the test never released the first forward"
        self.batch_sizes.append(len(pixels))
        if self.fail_next:
            raise RuntimeError("the model failed")
        rows = np.zeros((len(pixels), DIM), dtype=np.float32)
        rows[:, 0] = pixels[:, 0].numpy()
        return rows

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.embed_prepared(self.prepare_images(images))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        return np.ones((len(texts), DIM), dtype=np.float32)


def held_then_queued(
    worker: ModelWorker,
    embedder: HeldSplitEmbedder,
    pool: ThreadPoolExecutor,
    values: Sequence[int],
    count: int,
) -> tuple[Future[np.ndarray], list[Future[np.ndarray]]]:
    """A first search held inside the model, then one search of `count` images per value queued behind
    it; returns their futures once all are queued (the model still held)."""
    first = pool.submit(worker.embed_images, marked(1))
    assert embedder.entered.wait(30)
    waiting = [pool.submit(worker.embed_images, marked(v, count)) for v in values]
    wait_for(lambda: worker.queued == len(values), timeout=30)
    return first, waiting


def test_searches_waiting_for_the_model_share_its_next_forward() -> None:
    embedder = HeldSplitEmbedder()
    worker = ModelWorker(embedder, max_batch_images=32)
    try:
        with ThreadPoolExecutor(max_workers=5) as pool:
            first, waiting = held_then_queued(worker, embedder, pool, (2, 3, 4, 5), 2)
            embedder.release.set()
            assert first.result(30)[:, 0].tolist() == [1.0]
            for value, future in zip((2, 3, 4, 5), waiting, strict=True):
                assert future.result(30)[:, 0].tolist() == [value, value]  # its own rows, in order
        assert embedder.batch_sizes == [1, 8]  # the four waiting searches in one forward
        assert (worker.batches, worker.batched_images) == (2, 9)
        assert embedder.threads == {"snapbuy-model"}
    finally:
        worker.close()


def test_a_batch_never_exceeds_the_bound() -> None:
    embedder = HeldSplitEmbedder()
    worker = ModelWorker(embedder, max_batch_images=4)
    try:
        with ThreadPoolExecutor(max_workers=5) as pool:
            first, waiting = held_then_queued(worker, embedder, pool, (2, 3, 4), 3)
            embedder.release.set()
            results = [f.result(30)[:, 0].tolist() for f in [first, *waiting]]
        assert results == [[1.0], [2.0] * 3, [3.0] * 3, [4.0] * 3]
        assert embedder.batch_sizes == [1, 3, 3, 3]
    finally:
        worker.close()


def test_a_failed_forward_fails_every_search_in_it_and_the_worker_goes_on() -> None:
    embedder = HeldSplitEmbedder()
    worker = ModelWorker(embedder)
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            first, waiting = held_then_queued(worker, embedder, pool, (2, 3), 1)
            embedder.fail_next = True
            embedder.release.set()
            for future in [first, *waiting]:
                with pytest.raises(RuntimeError, match="the model failed"):
                    future.result(30)
        embedder.fail_next = False
        assert worker.embed_images(marked(7))[:, 0].tolist() == [7.0]
    finally:
        worker.close()


def test_other_model_calls_run_alone_and_in_their_turn() -> None:
    embedder = HeldSplitEmbedder()
    worker = ModelWorker(embedder)
    order: list[str] = []

    def text_query() -> str:
        order.append("text")
        return "done"

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            first = pool.submit(worker.embed_images, marked(1))
            assert embedder.entered.wait(30)
            text = pool.submit(worker.call, text_query)
            wait_for(lambda: worker.queued == 1, timeout=30)
            photo = pool.submit(worker.embed_images, marked(2))
            wait_for(lambda: worker.queued == 2, timeout=30)
            embedder.release.set()
            assert text.result(30) == "done" and photo.result(30)[:, 0].tolist() == [2.0]
            first.result(30)
        assert order == ["text"] and embedder.batch_sizes == [1, 1]
        with pytest.raises(ZeroDivisionError):
            worker.call(lambda: 1 / 0)
        assert worker.call(lambda: threading.current_thread().name) == "snapbuy-model"
    finally:
        worker.close()


def test_the_worker_embedder_and_localiser_answer_as_the_model_does(
    tiny_embedder: OpenClipEmbedder,
) -> None:
    worker = ModelWorker(tiny_embedder)
    try:
        through = WorkerEmbedder(worker)
        images = [Image.new("RGB", (40, 30), (i * 50, 90, 200 - i * 40)) for i in range(4)]
        assert through.identity == tiny_embedder.identity and through.dim == tiny_embedder.dim
        assert np.allclose(through.embed_images(images), tiny_embedder.embed_images(images), atol=1e-6)
        assert np.allclose(through.embed_texts(["a mug"]), tiny_embedder.embed_texts(["a mug"]), atol=1e-6)
        assert through.embed_images([]).shape == (0, tiny_embedder.dim)

        class Finder:
            def find_all(self, image: Image.Image) -> list[tuple[tuple[int, int, int, int], float]]:
                return [((0, 0, image.width, threading.current_thread().name == "snapbuy-model"), 0.5)]

        assert WorkerLocaliser(Finder(), worker).find_all(images[0]) == [((0, 0, 40, True), 0.5)]
    finally:
        worker.close()


class CountingLocaliser:
    """Finds one box per photo, its left edge the photo's red value; records the photos of each call."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.first_looks_on: set[str] = set()

    def first_look(self, image: Image.Image) -> Image.Image:
        self.first_looks_on.add(threading.current_thread().name)
        return image.copy()

    def find_all(self, image: Image.Image) -> list[tuple[tuple[int, int, int, int], float]]:
        return self.find_all_each([image], [image])[0]

    def find_all_each(
        self, images: Sequence[Image.Image], first_looks: Sequence[Image.Image] | None = None
    ) -> list[list[tuple[tuple[int, int, int, int], float]]]:
        assert first_looks is not None and len(first_looks) == len(images)
        self.calls.append(len(images))
        return [[((img.getpixel((0, 0))[0], 0, 1, 1), 0.9)] for img in first_looks]  # type: ignore[index]


def localised_search(
    worker: ModelWorker, value: int, pause: float, sends_views: bool = True, localiser: Any = None
) -> np.ndarray:
    """A search as the query encoder runs one: its localiser call on the worker, then, `pause`
    seconds later (cropping and preparing its view), its view; or no view (its deadline passed)."""
    found = worker.locate(localiser or CountingLocaliser(), marked(value)[0])
    assert found[0][0][0] == value
    time.sleep(pause)
    return worker.embed_images(marked(value)) if sends_views else np.zeros((0, DIM), np.float32)


@pytest.mark.parametrize(("follow_s", "batches"), [(30.0, [1, 2]), (0.0, [1, 1, 1])])
def test_the_views_of_a_search_just_localised_join_the_forward_being_gathered(
    follow_s: float, batches: list[int]
) -> None:
    embedder = HeldSplitEmbedder()
    worker = ModelWorker(embedder, follow_s=follow_s)
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            first = pool.submit(worker.embed_images, marked(1))
            assert embedder.entered.wait(30)
            photo = pool.submit(worker.embed_images, marked(2))
            wait_for(lambda: worker.queued == 1, timeout=30)
            search = pool.submit(localised_search, worker, 3, 0.3)
            wait_for(lambda: worker.queued == 2, timeout=30)  # its localiser call queued behind the photo
            embedder.release.set()
            assert [f.result(30)[:, 0].tolist() for f in (first, photo, search)] == [[1.0], [2.0], [3.0]]
        # Following, the search's view (sent 0.3 s after its localiser call ran) shares the photo's
        # forward; without, it waits for a forward of its own.
        assert embedder.batch_sizes == batches
    finally:
        worker.close()


def test_a_search_that_never_sends_its_views_is_followed_no_longer_than_the_bound() -> None:
    embedder = HeldSplitEmbedder()
    embedder.release.set()
    worker = ModelWorker(embedder, follow_s=0.2)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            pool.submit(localised_search, worker, 0, 0.0, sends_views=False).result(30)
            photo = pool.submit(worker.embed_images, marked(2))
            assert photo.result(10)[:, 0].tolist() == [2.0]  # its forward waited 0.2 s at most
        assert embedder.batch_sizes == [1]
    finally:
        worker.close()


def test_photos_queued_for_the_localiser_go_through_it_together() -> None:
    embedder = HeldSplitEmbedder()
    worker = ModelWorker(embedder, follow_s=30.0)
    localiser = CountingLocaliser()
    try:
        with ThreadPoolExecutor(max_workers=5) as pool:
            first = pool.submit(worker.embed_images, marked(1))
            assert embedder.entered.wait(30)
            searches = [pool.submit(localised_search, worker, v, 0.0, True, localiser) for v in (2, 3, 4)]
            wait_for(lambda: worker.queued == 3, timeout=30)
            embedder.release.set()
            assert [f.result(30)[:, 0].tolist() for f in (first, *searches)] == [[1.0], [2.0], [3.0], [4.0]]
        assert localiser.calls == [3]  # one localiser call for the three searches
        assert "snapbuy-model" not in localiser.first_looks_on  # resized on the searches' threads
        assert embedder.batch_sizes == [1, 3]  # and one forward for their views
    finally:
        worker.close()


@pytest.mark.parametrize(("images", "wait", "follow"), [(0, 0.0, 0.0), (1, -1.0, 0.0), (1, 0.0, -1.0)])
def test_the_bounds_are_checked(images: int, wait: float, follow: float) -> None:
    with pytest.raises(ValueError):
        ModelWorker(HeldSplitEmbedder(), images, wait, follow)
