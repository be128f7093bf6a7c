"""Image bytes -> vectors: each distinct image content is embedded once, and only when the embedding
cache does not already hold it; new embeddings are committed to the cache batch by batch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from snapbuy.catalog_views import CatalogViewMaker, with_views
from snapbuy.embed.base import Embedder, SplitEmbedder, input_side
from snapbuy.errors import ImageError
from snapbuy.imaging import decode_image
from snapbuy.indexing.embedding_cache import EmbeddingCache
from snapbuy.indexing.image_bytes import JobBytes
from snapbuy.indexing.options import EMBEDDING, IndexingOptions, IndexingProgress

# Catalog JPEGs are decoded at a reduced scale keeping at least this many times the model's input side
# on their shorter side: the model's resize loses nothing, catalog views keep detail to crop from, and
# a phone-sized JPEG decodes in a fraction of the time (docs/benchmarks.md#the-real-model-on-the-cpu).
# Without views the model's input side is enough: decoding and preparing a phone photo then costs 5 ms
# instead of 11 on one core, and the demo's recall is unchanged
# (docs/experiments/2026-12-05-half-precision-and-int8.md#decoding-for-the-model-alone).
VIEWS_DRAFT_FACTOR = 2


def draft_side(preprocessing: dict[str, Any], with_views: bool) -> int | None:
    """The shorter side catalog JPEGs keep when decoded at a reduced scale; None: decoded in full."""
    side = input_side(preprocessing)
    if side is None:
        return None
    return VIEWS_DRAFT_FACTOR * side if with_views else side


@dataclass
class EmbeddedJobs:
    vectors: np.ndarray  # float32[jobs, dim]; rows of failed jobs stay zero
    ok: np.ndarray  # bool[jobs]
    failures: dict[int, str] = field(default_factory=dict)  # job -> reason
    embedded: int = 0  # images run through the model
    reused: int = 0  # jobs whose vector came from the cache or from identical bytes earlier in the run


@dataclass
class _Pending:
    """Distinct contents waiting for the next model call, with every job that shares each."""

    decodes: list[tuple[str, Future[Image.Image | torch.Tensor | str]]] = field(default_factory=list)
    jobs_of: dict[str, list[int]] = field(default_factory=dict)


class JobOutcomes:
    """Each job's outcome as an engine learns it: its failure reason, or (by the engine) its vector;
    every outcome moves the run's progress on."""

    def __init__(self, jobs: int, dim: int, progress: IndexingProgress | None) -> None:
        self.progress = progress
        self.result = EmbeddedJobs(np.zeros((jobs, dim), np.float32), np.zeros(jobs, bool))

    def _fail(self, jobs: Sequence[int], reason: str) -> None:
        for job in jobs:
            self.result.failures[job] = reason
        self._advance(len(jobs))

    def _advance(self, count: int) -> None:
        if self.progress is not None:
            self.progress.advance(EMBEDDING, count)


class JobEmbedder(JobOutcomes):
    def __init__(
        self,
        jobs: int,
        embedder: Embedder,
        cache: EmbeddingCache,
        options: IndexingOptions,
        view_maker: CatalogViewMaker | None,
        progress: IndexingProgress | None,
    ) -> None:
        super().__init__(jobs, embedder.dim, progress)
        self.embedder, self.cache, self.options = embedder, cache, options
        self.view_maker = view_maker
        self._first_job_of: dict[str, int] = {}  # content hash -> a finished job holding its vector
        # Images are prepared for the model (resized, normalised) in the decode pool, beside the
        # model's forward, unless catalog views still need the decoded picture.
        self._split = embedder if isinstance(embedder, SplitEmbedder) and view_maker is None else None
        self._draft_side = draft_side(embedder.identity.preprocessing, view_maker is not None)

    def run(self, stream: Iterable[JobBytes]) -> EmbeddedJobs:
        # One batch ahead: while the model embeds a batch, the next one's images are read and decoded
        # by the pool, so the model waits for neither.
        filling, full = _Pending(), None
        with ThreadPoolExecutor(max_workers=self.options.decode_workers, thread_name_prefix="decode") as pool:
            for item in stream:
                if item.data is None:
                    self._fail([item.job], item.reason or "no image data")
                    continue
                self._take(item.job, item.data, filling, full, pool)
                if len(filling.decodes) >= self.options.batch_size:
                    if full is not None:
                        self._flush(full)
                    filling, full = _Pending(), filling
            if full is not None:
                self._flush(full)
            self._flush(filling)
        return self.result

    def _take(
        self, job: int, data: bytes, filling: _Pending, full: _Pending | None, pool: ThreadPoolExecutor
    ) -> None:
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._first_job_of:
            self._reuse(job, self.result.vectors[self._first_job_of[digest]])
        elif digest in filling.jobs_of:
            filling.jobs_of[digest].append(job)
        elif full is not None and digest in full.jobs_of:
            full.jobs_of[digest].append(job)
        elif (cached := self.cache.get(digest)) is not None:
            self._first_job_of[digest] = job
            self._reuse(job, cached)
        else:
            filling.jobs_of[digest] = [job]
            filling.decodes.append((digest, pool.submit(self._decode, data)))

    def _decode(self, data: bytes) -> Image.Image | torch.Tensor | str:
        """The image, decoded (JPEG at a reduced scale that keeps twice the model's input side) and,
        when the model allows, already prepared for it; or the reason it cannot be. Runs in the pool."""
        try:
            image = decode_image(
                data,
                max_bytes=self.options.max_image_bytes,
                max_pixels=self.options.max_image_pixels,
                draft_short_side=self._draft_side,
            )
        except ImageError as exc:
            return exc.message
        return self._split.prepare_images([image])[0] if self._split is not None else image

    def _flush(self, pending: _Pending) -> None:
        digests: list[str] = []
        images: list[Image.Image | torch.Tensor] = []
        for digest, future in pending.decodes:
            outcome = future.result()
            if isinstance(outcome, str):
                self._fail(pending.jobs_of[digest], outcome)
            else:
                digests.append(digest)
                images.append(outcome)
        if not images:
            return
        vectors = self._embed(images, digests)
        self.cache.put_many(list(zip(digests, vectors, strict=True)))
        for digest, vector in zip(digests, vectors, strict=True):
            jobs = pending.jobs_of[digest]
            self.result.vectors[jobs] = vector
            self.result.ok[jobs] = True
            self.result.embedded += 1
            self.result.reused += len(jobs) - 1
            self._first_job_of[digest] = jobs[0]
            self._advance(len(jobs))

    def _embed(self, decoded: Sequence[Image.Image | torch.Tensor], digests: Sequence[str]) -> np.ndarray:
        if self._split is not None:
            return self._split.embed_prepared(
                torch.stack([t for t in decoded if isinstance(t, torch.Tensor)])
            )
        images = [image for image in decoded if isinstance(image, Image.Image)]
        if self.view_maker is None:
            return self.embedder.embed_images(images)
        return embed_with_views(self.embedder, images, digests, self.view_maker, self.options.batch_size)

    def _reuse(self, job: int, vector: np.ndarray) -> None:
        self.result.vectors[job] = vector
        self.result.ok[job] = True
        self.result.reused += 1
        self._advance(1)


def embed_with_views(
    embedder: Embedder,
    images: Sequence[Image.Image],
    digests: Sequence[str],
    view_maker: CatalogViewMaker,
    batch_size: int,
) -> np.ndarray:
    """Each image's vector with its catalog views folded in (catalog_views.with_views); the views are
    embedded `batch_size` at a time. Both engines call this, so their vectors agree."""
    vectors = embedder.embed_images(images)
    views = view_maker.views_of(images, digests)
    view_vectors = np.concatenate(
        [embedder.embed_images(views[i : i + batch_size]) for i in range(0, len(views), batch_size)]
    )
    return with_views(vectors, view_vectors, view_maker.views)
