"""Batch indexing: a product feed (file or URL) -> image bytes (downloaded through a content cache, or
local files confined to the image root) -> embeddings (only those the embedding cache lacks) -> a new
bundle version, published atomically under the index's lock. The embedding step runs in this process,
or with `engine="ray"` as a Ray Data pipeline (ray_engine.py)."""

from snapbuy.indexing.build import build_index
from snapbuy.indexing.options import (
    EMBEDDING,
    FETCHING,
    IMAGE_ERRORS_FILE,
    REJECTS_FILE,
    THUMBNAILS,
    ImageCounts,
    ImageProblem,
    IndexingOptions,
    IndexingProgress,
    IndexingReport,
    ModelSource,
)
from snapbuy.indexing.ray_engine import check_engine_options

__all__ = [
    "EMBEDDING",
    "FETCHING",
    "IMAGE_ERRORS_FILE",
    "REJECTS_FILE",
    "THUMBNAILS",
    "ImageCounts",
    "ImageProblem",
    "IndexingOptions",
    "IndexingProgress",
    "IndexingReport",
    "ModelSource",
    "build_index",
    "check_engine_options",
]
