"""FAISS wrapper: build, save/load, and search with per-call id filters (never mutating shared state)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

INDEX_TYPE_FLAT = "flat"


@dataclass(frozen=True)
class IdFilter:
    """Which vector ids a search may return: a contiguous range, a boolean mask, or both (AND)."""

    id_range: tuple[int, int] | None = None  # [start, end)
    mask: np.ndarray | None = None  # bool[ntotal]

    def allowed_count(self, ntotal: int) -> int:
        start, end = self.id_range if self.id_range else (0, ntotal)
        if self.mask is None:
            return max(0, end - start)
        return int(self.mask[start:end].sum())


class VectorIndex:
    """Inner-product index over L2-normalised float32 rows; vector id = row number."""

    def __init__(self, index: Any) -> None:
        self._index = index

    @classmethod
    def build_flat(cls, vectors: np.ndarray) -> VectorIndex:
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return cls(index)

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        import faiss

        return cls(faiss.read_index(str(path)))

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def reconstruct(self, vector_ids: list[int]) -> np.ndarray:
        return np.stack([self._index.reconstruct(int(i)) for i in vector_ids]).astype(np.float32)

    def search_batch(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Unfiltered top-k for many query rows at once."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        scores, ids = self._index.search(q, max(1, min(k, self.ntotal)))
        return scores, ids

    def search(
        self, query: np.ndarray, k: int, id_filter: IdFilter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for one query row; ids of -1 are padding when fewer are allowed."""
        import faiss

        if id_filter is None or (id_filter.id_range is None and id_filter.mask is None):
            scores, ids = self.search_batch(query.reshape(1, -1), k)
            return scores[0], ids[0]
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        k = max(1, min(k, self.ntotal))
        selector, keep_alive = _selector(id_filter, self.ntotal)
        params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]  # SWIG kwargs
        scores, ids = self._index.search(q, k, params=params)
        del keep_alive  # the selector reads these buffers until search returns
        return scores[0], ids[0]


def _selector(id_filter: IdFilter, ntotal: int) -> tuple[Any, list[Any]]:
    import faiss

    keep: list[Any] = []
    if id_filter.mask is None:
        assert id_filter.id_range is not None
        start, end = id_filter.id_range
        return faiss.IDSelectorRange(start, end), keep
    mask = id_filter.mask
    if id_filter.id_range is not None:
        start, end = id_filter.id_range
        mask = np.zeros(ntotal, dtype=bool)
        mask[start:end] = id_filter.mask[start:end]
    bits = np.packbits(mask, bitorder="little")
    keep.append(bits)
    return faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits)), keep  # size in bytes
