"""What an indexing run is asked (IndexingOptions, with the engine that turns images into vectors and
the ModelSource the Ray engine's actors load from), what it answers (IndexingReport), and how it
reports progress (IndexingProgress)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from snapbuy.fetching import FetchPolicy
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS

REJECTS_FILE = "rejects.csv"
IMAGE_ERRORS_FILE = "image-errors.csv"
# Caches live beside the versions, in a hidden folder that version pruning never touches.
CACHE_FOLDER = ".cache"
# Stages an IndexingProgress hears about, in the order they start.
FETCHING = "fetching"
EMBEDDING = "embedding"
THUMBNAILS = "thumbnails"

# What turns image jobs into vectors: this process (indexing/embedding.py), or a Ray Data pipeline on a
# local runtime or a cluster (indexing/ray_engine.py). Everything else in a run is the same for both.
Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")


@dataclass(frozen=True)
class ModelSource:
    """How to load the run's model, as plain data: the Ray engine's actors each load their own copy
    from it (a loaded model is never pickled to them). Paths must name the same files on every node."""

    spec: str  # ARCH[:WEIGHTS], as for --model
    models_dir: Path
    allow_download: bool = False
    backend: str = "torch"
    graph_cache: Path | None = None


@dataclass(frozen=True)
class IndexingOptions:
    batch_size: int = 32
    skip_invalid: bool = False
    tier_cuts: Sequence[float] | None = None  # global bounds; None = per-category tertiles
    max_image_bytes: int = LOCAL_FILE_MAX_BYTES
    max_image_pixels: int = LOCAL_FILE_MAX_PIXELS
    decode_workers: int = 2
    keep_versions: int = 3  # older versions are deleted after a successful publish
    index_type: str = "auto"  # auto | flat | ivf | ivfpq | hnsw | a faiss factory string
    memory_budget: int | None = None  # bytes of RAM for the index; None = no limit
    # Synthetic shopper-photo views per catalog image folded into its vector (catalog_views.py); 0 = off.
    catalog_views: int = 0
    view_seed: int = 0
    feed_format: str | None = None  # None: detected from the feed's content
    currency: str | None = None  # the feed's currency, for symbols and bare numbers
    image_root: Path | None = None  # local images must lie inside it; None: the feed's folder
    image_cache: Path | None = None  # downloaded images; None: <index>/.cache/images
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    max_feed_bytes: int = 4 * 1024**3  # a feed given as a URL
    lock_wait_seconds: float = 0.0  # 0: refuse at once when another run holds the index
    # Longest side of the thumbnails of local catalog images written into the version (the phone page
    # shows them); 0: none.
    thumbnail_side: int = 320
    engine: Engine = "local"
    ray_address: str | None = None  # the Ray engine's cluster; None: RAY_ADDRESS, else a local runtime
    ray_actors: int | None = None  # the Ray engine's embedding actors; None: one per GPU, else per CPU
    model_source: ModelSource | None = None  # what the Ray engine's actors load; required by it


@dataclass(frozen=True)
class ImageProblem:
    sku: str
    line: int
    link: str
    reason: str


@dataclass(frozen=True)
class ImageCounts:
    """What happened to the run's images; `reused` counts both the embedding cache and images whose
    bytes repeat within the feed."""

    embedded: int = 0
    reused: int = 0
    failed: int = 0
    downloaded: int = 0  # remote images whose bytes came over the wire
    revalidated: int = 0  # remote images the server confirmed unchanged (304): no bytes moved
    bytes_transferred: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "images_embedded": self.embedded,
            "images_reused": self.reused,
            "images_failed": self.failed,
            "images_downloaded": self.downloaded,
            "images_revalidated": self.revalidated,
            "image_bytes_transferred": self.bytes_transferred,
        }


@dataclass
class IndexingReport:
    version: str
    path: Path
    products: int
    vectors: int
    rejected_rows: int
    products_without_images: int
    image_problems: list[ImageProblem] = field(default_factory=list)
    rejects_file: Path | None = None
    image_errors_file: Path | None = None
    seconds: float = 0.0
    index_description: str = ""  # type, factory string and why it was chosen
    images: ImageCounts = field(default_factory=ImageCounts)
    out_of_stock: int = 0
    thumbnails: int = 0  # products whose local image was thumbnailed into the version


class IndexingProgress(Protocol):
    """Told when a stage starts (with its total), as items finish, and when it ends."""

    def start(self, stage: str, total: int) -> None: ...

    def advance(self, stage: str, count: int = 1) -> None: ...

    def finish(self, stage: str) -> None: ...
