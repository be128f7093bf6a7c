"""The Ray engine: the step of an indexing run that turns image jobs into vectors, run as a Ray Data
pipeline so that reading, decoding and embedding spread over a cluster's CPUs or GPUs. What must
happen exactly once stays on the driver: the embedding cache, the index build and the publish.

    jobs ─ read stage (Ray tasks, a batch of jobs each): the bytes by job_bytes (the fetcher with its
           cache and retries, local reads confined as ever), their SHA-256, then cached? repeated in
           the batch? no pixels : decoded as the local engine decodes
         ─ embed stage (a pool of actors, each loading the model once from its ModelSource)
         ─ driver: iter_batches, vectors committed to the embedding cache batch by batch

Only reading an image's bytes reveals its content hash, so cached images are read in Ray but never
decoded or embedded: the driver puts the cache's hashes (their first 8 bytes, sorted) in Ray's object
store for the read stage, and looks every hit up in the cache itself. Failures carry the local
engine's reasons because they come from the same code. `ray` is imported only inside functions: it is
an optional dependency (`pip install 'snapbuy[ray]'`)."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

from snapbuy.catalog import ImageRef
from snapbuy.catalog_views import CatalogViewMaker, view_side_of
from snapbuy.embed.base import Embedder, ModelIdentity
from snapbuy.errors import ConfigError, ImageError, ModelError, SnapbuyError, echo
from snapbuy.fetching import Fetched, FetchPolicy, ImageCache, ImageFetcher
from snapbuy.imaging import decode_image
from snapbuy.indexing.embedding import EmbeddedJobs, JobOutcomes, draft_side, embed_with_views
from snapbuy.indexing.embedding_cache import EmbeddingCache
from snapbuy.indexing.image_bytes import ImageJob, job_bytes
from snapbuy.indexing.options import ENGINES, IndexingOptions, IndexingProgress, ModelSource

log = logging.getLogger(__name__)

Batch = dict[str, np.ndarray]
INSTALL_HINT = "pip install 'snapbuy[ray]'"
# What the read stage found for a job: no bytes or undecodable (reason), content the cache holds,
# content an earlier job of the same batch has, or new content (decoded pixels follow it).
FAILED, CACHED, REPEAT, NEW = "failed", "cached", "repeat", "new"
# The jobs dataset is cut into about one block per batch, but at most this many: the driver tracks
# every block, and a few thousand keep any cluster busy.
MAX_BLOCKS = 4096
# Fault tolerance, set here rather than left to Ray Data's defaults (which restart actors and retry
# their batches without end). A worker process that dies (killed, out of memory) costs only the work it
# held: an embedding actor is restarted in a new process, which loads the model again, and the batches
# it held are sent to it again; a read task is run again. A retried batch's rows reach the driver once,
# so nothing is lost or embedded twice (tests/indexing/test_ray_engine.py kills an actor, and a read
# task, mid-run to show it). Bounded, so that a cause that recurs (a model or an image that crashes its
# process every time) ends the run with the pipeline's error instead of looping: each actor is
# restarted at most ACTOR_RESTARTS times, a batch sent to an actor is retried at most
# ACTOR_TASK_RETRIES times, a read task at most READ_TASK_RETRIES times.
ACTOR_RESTARTS = 3
ACTOR_TASK_RETRIES = 3
READ_TASK_RETRIES = 3
# Columns the embed stage passes on to the driver unchanged (the pixels stay behind).
_PASSED = ("job", "status", "digest", "reason", "fetched", "transferred")


def check_engine_options(options: IndexingOptions) -> None:
    """Refuse what the chosen engine cannot do before the feed is read or the index locked."""
    if options.engine not in ENGINES:
        known = ", ".join(ENGINES)
        raise ConfigError(f"unknown indexing engine {echo(options.engine)}; choose one of {known}")
    if options.engine == "local":
        if options.ray_address is not None or options.ray_actors is not None:
            raise ConfigError("--ray-address and --ray-actors apply only with --engine ray")
        return
    if options.ray_actors is not None and options.ray_actors < 1:
        raise ConfigError(f"--ray-actors must be at least 1, not {options.ray_actors}")
    if options.model_source is None:
        raise ConfigError("the Ray engine needs IndexingOptions.model_source: its actors load the model")
    import_ray()


def import_ray() -> ModuleType:
    """Ray and its Data library, or a ConfigError that says how to install them."""
    try:
        import ray
        import ray.data  # the extra's [data] part: the engine's pipeline needs it
    except ImportError as exc:
        raise ConfigError(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}") from exc
    return ray


@dataclass(frozen=True)
class ReadSettings:
    """What the read stage needs, as plain data: it runs in Ray tasks, possibly on other nodes."""

    fetch: FetchPolicy
    image_cache: Path  # downloads go through it (safe to share between processes)
    max_bytes: int
    max_pixels: int
    draft_side: int | None  # JPEGs decode at a reduced scale keeping this shorter side, as locally
    workers: int  # threads reading local files within one batch


@dataclass(frozen=True)
class ViewSettings:
    """Catalog views for the embed stage, as the local engine makes them (catalog_views.py)."""

    per_image: int  # 0: none
    seed: int
    batch_size: int  # views embedded this many at a time


def embed_jobs_on_ray(
    jobs: Sequence[ImageJob],
    identity: ModelIdentity,
    cache: EmbeddingCache,
    options: IndexingOptions,
    image_cache: Path,
    on_fetched: Callable[[str, int], None],
    progress: IndexingProgress | None,
) -> EmbeddedJobs:
    """Every job's vector or failure reason, as JobEmbedder gives them, with the same counts. Vectors
    of new content are committed to `cache` as each batch streams back, so a killed run resumes.
    `on_fetched(source, bytes_transferred)` hears of every download. The options were checked by
    build_index (check_engine_options) before the run took the index's lock."""
    collector = Collector(len(jobs), identity.dim, cache, on_fetched, progress)
    if not jobs:
        return collector.result
    assert options.model_source is not None  # check_engine_options refuses a Ray run without one
    ray = import_ray()
    read = ReadSettings(
        fetch=options.fetch,
        image_cache=image_cache.resolve(),  # the tasks may run in another folder, or on another node
        max_bytes=options.max_image_bytes,
        max_pixels=options.max_image_pixels,
        draft_side=draft_side(identity.preprocessing, options.catalog_views > 0),
        workers=options.decode_workers,
    )
    with _runtime(ray, options.ray_address):
        pipeline = _Pipeline(ray, jobs, read, options.model_source, identity, options)
        known = _known_prefixes(cache)
        collector.take_all(pipeline.run(range(len(jobs)), ray.put(known) if len(known) else None))
        if again := collector.unresolved():
            # Jobs the read stage took for cached whose vector the cache lacks (a prefix shared by
            # chance): embedded by a second pass that trusts no prefix. Practically never runs.
            log.info("embedding %d images again that the cache turned out not to hold", len(again))
            collector.take_all(pipeline.run(again, None))
        if collector.unresolved():
            raise SnapbuyError("the Ray engine left images without a vector or a reason; nothing indexed")
    return collector.result


@contextmanager
def _runtime(ray: ModuleType, address: str | None) -> Iterator[None]:
    """The Ray runtime this process already joined (a test's, a notebook's), else the one at `address`
    (None: RAY_ADDRESS, else a new local runtime), shut down again when the run ends."""
    if ray.is_initialized():
        if address is not None:
            log.warning("this process already joined a Ray runtime; it is used, not %s", address)
        yield
        return
    local = {"include_dashboard": False} if address is None else {}
    ray.init(address=address, logging_level=logging.WARNING, **local)
    try:
        yield
    finally:
        ray.shutdown()


def _known_prefixes(cache: EmbeddingCache) -> np.ndarray:
    """The cached content hashes' first 8 bytes, sorted: 8 bytes a cached image for the read stage."""
    prefixes = np.fromiter((int(digest[:16], 16) for digest in cache.digests()), dtype=np.uint64)
    return np.unique(prefixes)


class _Pipeline:
    """Builds and runs the Ray Data pipeline over a subset of the jobs."""

    def __init__(
        self,
        ray: ModuleType,
        jobs: Sequence[ImageJob],
        read: ReadSettings,
        source: ModelSource,
        identity: ModelIdentity,
        options: IndexingOptions,
    ) -> None:
        self.ray, self.jobs, self.read, self.source, self.identity = ray, jobs, read, source, identity
        self.batch_size = options.batch_size
        self.views = ViewSettings(options.catalog_views, options.view_seed, options.batch_size)
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 0)))
        # One actor per GPU, else per CPU slot; the read stage takes no slot (it mostly waits on disks
        # and the network, and its decodes are small beside a forward), else actors holding every
        # slot would starve it. Its tasks are capped at one per CPU.
        self.device = "cuda" if gpus else "cpu"
        self.actors = options.ray_actors or (gpus or cpus)
        self.actor_resources = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        self.readers = cpus
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the run's own progress reports the stages
        logging.getLogger("ray.data").setLevel(logging.WARNING)

    def run(self, subset: Iterable[int], known: Any) -> Iterator[Mapping[str, np.ndarray]]:
        """The embed stage's batches for the jobs in `subset`, streamed: Ray holds a bounded number of
        batches in flight, never the whole catalog. `known`: an object reference to the sorted prefixes
        of the cache's hashes, or None to trust none."""
        ray, data = self.ray, self.ray.data
        rows = [_job_row(job, self.jobs[job].ref) for job in subset]
        blocks = max(1, min(MAX_BLOCKS, math.ceil(len(rows) / self.batch_size)))
        dataset = data.from_items(rows, override_num_blocks=blocks).map_batches(
            read_stage,
            batch_size=self.batch_size,
            batch_format="numpy",
            fn_kwargs={"settings": self.read, "known": known},
            compute=data.TaskPoolStrategy(size=self.readers),
            num_cpus=0,
            max_retries=READ_TASK_RETRIES,
        )
        dataset = dataset.map_batches(
            EmbedStage,
            batch_size=self.batch_size,
            batch_format="numpy",
            fn_constructor_kwargs={
                "source": self.source,
                "device": self.device,
                "expected": self.identity,
                "views": self.views,
            },
            compute=data.ActorPoolStrategy(size=self.actors),
            max_restarts=ACTOR_RESTARTS,
            max_task_retries=ACTOR_TASK_RETRIES,
            **self.actor_resources,
        )
        log.info("Ray engine: %d embedding actors on %s", self.actors, self.device)
        try:
            yield from dataset.iter_batches(batch_size=None, batch_format="numpy")
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SnapbuyError(
                f"the Ray pipeline failed ({type(exc).__name__}: {first}); the live index is unchanged, "
                "and the embeddings committed before it stay in the cache for the next run"
            ) from exc


def _job_row(job: int, ref: ImageRef) -> dict[str, Any]:
    return {
        "job": job,
        "link": ref.link,
        "path": "" if ref.path is None else str(ref.path),
        "url": ref.url or "",
        "problem": ref.problem or "",
    }


def _ref_of(batch: Mapping[str, np.ndarray], i: int) -> ImageRef:
    path, url, problem = str(batch["path"][i]), str(batch["url"][i]), str(batch["problem"][i])
    return ImageRef(str(batch["link"][i]), Path(path) if path else None, url or None, problem or None)


def read_stage(batch: Mapping[str, np.ndarray], *, settings: ReadSettings, known: Any) -> Batch:
    """A batch of jobs -> each one's outcome: a reason, `cached`, `repeat` or decoded pixels. Runs in
    a Ray task; the bytes come from job_bytes and the decode from decode_image with the local engine's
    limits, so every failure reason is the local engine's."""
    prefixes = _resolve(known)
    count = len(batch["job"])
    jobs = [ImageJob(0, _ref_of(batch, i)) for i in range(count)]
    status, digests, reasons = [FAILED] * count, [""] * count, [""] * count
    fetched, transferred = [""] * count, np.zeros(count, np.int64)
    pixels, heights, widths = [b""] * count, np.zeros(count, np.int32), np.zeros(count, np.int32)

    def on_fetched(item: Fetched) -> None:
        fetched[item.key], transferred[item.key] = item.source, item.bytes_transferred

    fetcher = (
        ImageFetcher(settings.fetch, ImageCache(settings.image_cache))
        if any(job.ref.url is not None for job in jobs)
        else None
    )
    seen: set[str] = set()
    for item in job_bytes(jobs, fetcher, settings.max_bytes, settings.workers, on_fetched):
        i = item.job
        if item.data is None:
            reasons[i] = item.reason or "no image data"
            continue
        digests[i] = digest = hashlib.sha256(item.data).hexdigest()
        if digest in seen:
            status[i] = REPEAT
        elif prefixes is not None and _holds(prefixes, digest):
            status[i] = CACHED
        else:
            try:
                image = decode_image(
                    item.data,
                    max_bytes=settings.max_bytes,
                    max_pixels=settings.max_pixels,
                    draft_short_side=settings.draft_side,
                )
            except ImageError as exc:
                reasons[i] = exc.message
            else:
                status[i] = NEW
                raster = np.asarray(image.convert("RGB"), dtype=np.uint8)
                pixels[i], (heights[i], widths[i]) = raster.tobytes(), raster.shape[:2]
        seen.add(digest)
    return {
        "job": np.asarray(batch["job"], np.int64),
        "status": np.asarray(status),
        "digest": np.asarray(digests),
        "reason": np.asarray(reasons),
        "fetched": np.asarray(fetched),
        "transferred": transferred,
        "pixels": np.asarray(pixels, dtype=object),
        "height": heights,
        "width": widths,
    }


def _resolve(known: Any) -> np.ndarray | None:
    """The sorted hash prefixes behind an object reference (a zero-copy read on the same node)."""
    if known is None or isinstance(known, np.ndarray):
        return known
    import ray

    prefixes: np.ndarray = ray.get(known)
    return prefixes


def _holds(prefixes: np.ndarray, digest: str) -> bool:
    value = np.uint64(int(digest[:16], 16))
    at = int(np.searchsorted(prefixes, value))
    return at < len(prefixes) and prefixes[at] == value


class EmbedStage:
    """One actor of the embedding pool. Ray Data makes one instance per actor: the model loads here,
    once per actor, from its source (a loaded model is never pickled from the driver), and is checked
    against the driver's so that every vector of an index comes from the same model. A model that
    cannot be loaded is reported in the batches (a Ray error would lose the snapbuy error's message)."""

    def __init__(
        self, source: ModelSource, device: str, expected: ModelIdentity, views: ViewSettings
    ) -> None:
        self.dim = expected.dim
        self.embedder: Embedder | None = None
        self.views = views
        self.view_maker: CatalogViewMaker | None = None
        self.problem = ""
        try:
            embedder = _load_model(source, device)
        except SnapbuyError as exc:
            self.problem = exc.message
            return
        loaded = embedder.identity
        if not loaded.same_model(expected) or loaded.preprocessing != expected.preprocessing:
            self.problem = (
                f"{source.spec} loaded as {loaded.architecture} with weights {loaded.weights}, not as the "
                f"driver's {expected.architecture} with weights {expected.weights}: every node needs the "
                f"same model files (models folder {source.models_dir})"
            )
            return
        if views.per_image:
            self.view_maker = CatalogViewMaker(
                views.per_image, view_side_of(loaded.preprocessing), views.seed
            )
        self.embedder = embedder

    def __call__(self, batch: Mapping[str, np.ndarray]) -> Batch:
        count = len(batch["job"])
        out = {name: batch[name] for name in _PASSED}
        out["problem"] = np.full(count, self.problem)
        vectors = np.zeros((count, self.dim), np.float32)
        new = np.flatnonzero(np.asarray(batch["status"]) == NEW)
        if self.embedder is not None and len(new):
            images = [
                Image.frombytes(
                    "RGB", (int(batch["width"][i]), int(batch["height"][i])), bytes(batch["pixels"][i])
                )
                for i in new
            ]
            if self.view_maker is None:
                vectors[new] = self.embedder.embed_images(images)
            else:
                digests = [str(batch["digest"][i]) for i in new]
                vectors[new] = embed_with_views(
                    self.embedder, images, digests, self.view_maker, self.views.batch_size
                )
        out["vector"] = vectors
        return out


def _load_model(source: ModelSource, device: str) -> Embedder:
    # Imported here: open_clip is heavy, and only the actors (and the CLI) load models.
    from snapbuy.embed.openclip import load_embedder

    return load_embedder(
        source.spec,
        models_dir=source.models_dir,
        device=device,
        allow_download=source.allow_download,
        backend=source.backend,
        graph_cache=source.graph_cache,
    )


class Collector(JobOutcomes):
    """The driver's side: turns the embed stage's rows into EmbeddedJobs with the local engine's
    rules (content embedded once, every other job sharing it reused; a content's failure is every
    such job's), and commits each batch's new vectors to the cache before taking the next."""

    def __init__(
        self,
        jobs: int,
        dim: int,
        cache: EmbeddingCache,
        on_fetched: Callable[[str, int], None],
        progress: IndexingProgress | None,
    ) -> None:
        super().__init__(jobs, dim, progress)
        self.cache, self.on_fetched = cache, on_fetched
        self._first_job_of: dict[str, int] = {}  # content hash -> a finished job holding its vector
        self._failure_of: dict[str, str] = {}  # content hash -> why it cannot be embedded
        self._waiting: dict[str, list[int]] = {}  # content hash -> repeats in its batch, not yet resolved
        self._uncached: list[int] = []  # marked cached, but the cache lacks the vector

    def take_all(self, batches: Iterable[Mapping[str, np.ndarray]]) -> None:
        for batch in batches:
            self.take(batch)

    def take(self, batch: Mapping[str, np.ndarray]) -> None:
        if (problem := next((str(p) for p in batch["problem"] if p), None)) is not None:
            raise ModelError(f"an embedding actor of the Ray engine could not load the model: {problem}")
        new: list[tuple[str, np.ndarray]] = []
        for i in range(len(batch["job"])):
            job, status = int(batch["job"][i]), str(batch["status"][i])
            digest, reason = str(batch["digest"][i]), str(batch["reason"][i])
            if source := str(batch["fetched"][i]):
                self.on_fetched(source, int(batch["transferred"][i]))
            if not digest:  # no bytes at all
                self._fail([job], reason)
            elif digest in self._first_job_of:
                self._reuse([job], self._first_job_of[digest])
            elif digest in self._failure_of:
                self._fail([job], self._failure_of[digest])
            elif status == REPEAT:
                self._waiting.setdefault(digest, []).append(job)
            elif status == FAILED:
                self._failure_of[digest] = reason
                self._fail([job, *self._waiting.pop(digest, [])], reason)
            elif status == CACHED:
                if (vector := self.cache.get(digest)) is None:
                    self._uncached.append(job)
                else:
                    self._resolve(job, digest, vector, embedded=False)
            else:
                vector = np.asarray(batch["vector"][i], np.float32)
                self._resolve(job, digest, vector, embedded=True)
                new.append((digest, vector))
        if new:
            self.cache.put_many(new)

    def unresolved(self) -> list[int]:
        """Jobs still without a vector or a reason (then cleared, to be sent again)."""
        left = sorted(self._uncached + [job for jobs in self._waiting.values() for job in jobs])
        self._uncached, self._waiting = [], {}
        return left

    def _resolve(self, job: int, digest: str, vector: np.ndarray, *, embedded: bool) -> None:
        self.result.vectors[job] = vector
        self.result.ok[job] = True
        self._first_job_of[digest] = job
        if embedded:
            self.result.embedded += 1
        else:
            self.result.reused += 1
        self._advance(1)
        self._reuse(self._waiting.pop(digest, []), job)

    def _reuse(self, jobs: Sequence[int], source: int) -> None:
        if not jobs:
            return
        self.result.vectors[list(jobs)] = self.result.vectors[source]
        self.result.ok[list(jobs)] = True
        self.result.reused += len(jobs)
        self._advance(len(jobs))
