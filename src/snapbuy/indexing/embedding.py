"""Image bytes -> vectors: each distinct image content is embedded once, and only when the embedding
cache does not already hold it; new embeddings are committed to the cache batch by batch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from snapbuy.catalog_views import CatalogViewMaker, with_views
from snapbuy.embed.base import Embedder
from snapbuy.errors import ImageError
from snapbuy.imaging import decode_image
from snapbuy.indexing.embedding_cache import EmbeddingCache
from snapbuy.indexing.image_bytes import JobBytes
from snapbuy.indexing.options import EMBEDDING, IndexingOptions, IndexingProgress


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

    decodes: list[tuple[str, Future[Image.Image | str]]] = field(default_factory=list)
    jobs_of: dict[str, list[int]] = field(default_factory=dict)


class JobEmbedder:
    def __init__(
        self,
        jobs: int,
        embedder: Embedder,
        cache: EmbeddingCache,
        options: IndexingOptions,
        view_maker: CatalogViewMaker | None,
        progress: IndexingProgress | None,
    ) -> None:
        self.embedder, self.cache, self.options = embedder, cache, options
        self.view_maker, self.progress = view_maker, progress
        self.result = EmbeddedJobs(np.zeros((jobs, embedder.dim), np.float32), np.zeros(jobs, bool))
        self._first_job_of: dict[str, int] = {}  # content hash -> a finished job holding its vector

    def run(self, stream: Iterable[JobBytes]) -> EmbeddedJobs:
        pending = _Pending()
        with ThreadPoolExecutor(max_workers=self.options.decode_workers, thread_name_prefix="decode") as pool:
            for item in stream:
                if item.data is None:
                    self._fail([item.job], item.reason or "no image data")
                    continue
                self._take(item.job, item.data, pending, pool)
                if len(pending.decodes) >= self.options.batch_size:
                    self._flush(pending)
                    pending = _Pending()
            self._flush(pending)
        return self.result

    def _take(self, job: int, data: bytes, pending: _Pending, pool: ThreadPoolExecutor) -> None:
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._first_job_of:
            self._reuse(job, self.result.vectors[self._first_job_of[digest]])
        elif digest in pending.jobs_of:
            pending.jobs_of[digest].append(job)
        elif (cached := self.cache.get(digest)) is not None:
            self._first_job_of[digest] = job
            self._reuse(job, cached)
        else:
            pending.jobs_of[digest] = [job]
            pending.decodes.append((digest, pool.submit(self._decode, data)))

    def _decode(self, data: bytes) -> Image.Image | str:
        try:
            return decode_image(
                data, max_bytes=self.options.max_image_bytes, max_pixels=self.options.max_image_pixels
            )
        except ImageError as exc:
            return exc.message

    def _flush(self, pending: _Pending) -> None:
        digests: list[str] = []
        images: list[Image.Image] = []
        for digest, future in pending.decodes:
            outcome = future.result()
            if isinstance(outcome, str):
                self._fail(pending.jobs_of[digest], outcome)
            else:
                digests.append(digest)
                images.append(outcome)
        if not images:
            return
        vectors = self._embed(images)
        self.cache.put_many(list(zip(digests, vectors, strict=True)))
        for digest, vector in zip(digests, vectors, strict=True):
            jobs = pending.jobs_of[digest]
            self.result.vectors[jobs] = vector
            self.result.ok[jobs] = True
            self.result.embedded += 1
            self.result.reused += len(jobs) - 1
            self._first_job_of[digest] = jobs[0]
            self._advance(len(jobs))

    def _embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        vectors = self.embedder.embed_images(images)
        if self.view_maker is None:
            return vectors
        views = self.view_maker.views_of(images)
        size = self.options.batch_size
        view_vectors = np.concatenate(
            [self.embedder.embed_images(views[i : i + size]) for i in range(0, len(views), size)]
        )
        return with_views(vectors, view_vectors, self.view_maker.views)

    def _reuse(self, job: int, vector: np.ndarray) -> None:
        self.result.vectors[job] = vector
        self.result.ok[job] = True
        self.result.reused += 1
        self._advance(1)

    def _fail(self, jobs: Sequence[int], reason: str) -> None:
        for job in jobs:
            self.result.failures[job] = reason
        self._advance(len(jobs))

    def _advance(self, count: int) -> None:
        if self.progress is not None:
            self.progress.advance(EMBEDDING, count)
