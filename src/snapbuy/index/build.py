"""Build an index of the chosen type from vectors, and load a bundle's index from its manifest entry."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from snapbuy.errors import BundleError
from snapbuy.index.approximate import ApproximateIndex, SearchEffort
from snapbuy.index.base import VectorIndex
from snapbuy.index.choice import IndexChoice
from snapbuy.index.exact_rows import ExactRows
from snapbuy.index.flat import FlatIndex

log = logging.getLogger(__name__)
# Training points: faiss wants ~40 per IVF list and ~256 per codebook entry; more only costs time.
TRAIN_POINTS_PER_LIST = 40
MIN_TRAIN_POINTS = 65_536


def build_vector_index(vectors: np.ndarray, choice: IndexChoice) -> VectorIndex:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if choice.kind == "flat":
        return FlatIndex.build(vectors)
    import faiss

    ann = faiss.index_factory(vectors.shape[1], choice.factory, faiss.METRIC_INNER_PRODUCT)
    if not ann.is_trained:
        ann.train(_training_sample(ann, vectors))
    ann.add(vectors)
    return ApproximateIndex(ann, ExactRows.in_memory(vectors), choice.effort or SearchEffort())


def _training_sample(ann: Any, vectors: np.ndarray) -> np.ndarray:
    import faiss

    ivf = faiss.try_extract_index_ivf(ann)
    wanted = max(MIN_TRAIN_POINTS, TRAIN_POINTS_PER_LIST * (int(ivf.nlist) if ivf is not None else 0))
    if wanted >= len(vectors):
        return vectors
    # A fixed seed: the same catalog always trains the same index.
    rows = np.random.default_rng(0).choice(len(vectors), wanted, replace=False)
    return vectors[np.sort(rows)]


def load_vector_index(folder: Path, manifest_index: dict[str, Any]) -> VectorIndex:
    kind = manifest_index.get("type")
    effort = manifest_index.get("params", {}).get("effort")
    if kind != "flat" and (kind not in ("ivf", "hnsw", "other") or effort is None):
        raise BundleError(f"index in {folder} has type {kind!r}, which this snapbuy cannot load; rebuild it")
    try:
        if kind == "flat":
            return FlatIndex.load(folder)
        in_memory = manifest_index["params"].get("rerank_rows") == "memory"
        return ApproximateIndex.load(folder, SearchEffort.from_json(effort), rows_in_memory=in_memory)
    except (OSError, ValueError, RuntimeError) as exc:
        raise BundleError(f"cannot load the vector index in {folder}: {exc}") from exc
