"""Exact search: every stored float32 vector is scored. The reference for all other index types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snapbuy.index.base import IdFilter, VectorIndex, faiss_selector
from snapbuy.index.files import VECTORS_FILE


class FlatIndex(VectorIndex):
    kind = "flat"

    def __init__(self, index: Any) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray) -> FlatIndex:
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return cls(index)

    @classmethod
    def load(cls, folder: Path) -> FlatIndex:
        import faiss

        return cls(faiss.read_index(str(folder / VECTORS_FILE)))

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(folder / VECTORS_FILE))

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def reconstruct(self, vector_ids: list[int]) -> np.ndarray:
        if not vector_ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._index.reconstruct(int(i)) for i in vector_ids]).astype(np.float32)

    def range_vectors(self, start: int, end: int) -> np.ndarray:
        rows: np.ndarray = self._index.reconstruct_n(start, end - start)
        return rows.astype(np.float32, copy=False)

    def search_batch(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(queries, dtype=np.float32)
        scores, ids = self._index.search(q, max(1, min(k, self.ntotal)))
        return scores, ids

    def search(
        self,
        query: np.ndarray,
        k: int,
        id_filter: IdFilter | None = None,
        *,
        effort_scale: float = 1.0,
        wanted: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        if id_filter is None or id_filter.is_empty:
            scores, ids = self.search_batch(query.reshape(1, -1), k)
            return scores[0], ids[0]
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        k = max(1, min(k, self.ntotal))
        selector, keep_alive = faiss_selector(id_filter, self.ntotal)
        params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]  # SWIG kwargs
        scores, ids = self._index.search(q, k, params=params)
        del keep_alive  # the selector reads these buffers until search returns
        return scores[0], ids[0]
