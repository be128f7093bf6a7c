"""What every vector index offers search: per-call id filters, never mutating shared search state."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["IdFilter", "VectorIndex", "empty_result", "faiss_selector"]


@dataclass(frozen=True)
class IdFilter:
    """Which vector ids a search may return: a contiguous range, a boolean mask, or both (AND)."""

    id_range: tuple[int, int] | None = None  # [start, end)
    mask: np.ndarray | None = None  # bool[ntotal]

    @property
    def is_empty(self) -> bool:
        return self.id_range is None and self.mask is None

    def allowed_count(self, ntotal: int) -> int:
        start, end = self.id_range if self.id_range else (0, ntotal)
        if self.mask is None:
            return max(0, end - start)
        return int(self.mask[start:end].sum())


def empty_result(k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(k, -np.inf, dtype=np.float32), np.full(k, -1, dtype=np.int64)


class VectorIndex(ABC):
    """Inner-product search over L2-normalised float32 rows; vector id = row number."""

    kind: str

    @property
    @abstractmethod
    def ntotal(self) -> int: ...

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @abstractmethod
    def search(
        self,
        query: np.ndarray,
        k: int,
        id_filter: IdFilter | None = None,
        *,
        effort_scale: float = 1.0,
        wanted: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for one query row, best first; ids of -1 pad when fewer are allowed.
        `effort_scale` multiplies an approximate index's own search effort for this call only (effort
        sweeps); exact indexes ignore it. `wanted` (at most k): how many of the k the caller will keep
        in the end (k products' vectors to find k variant groups): an approximate index sizes its
        re-rank pool for that many, since the rest are near neighbours of those; None: k."""

    @abstractmethod
    def search_batch(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Unfiltered top-k for many query rows at once."""

    @abstractmethod
    def reconstruct(self, vector_ids: list[int]) -> np.ndarray:
        """The stored vectors of these ids, as float32 rows."""

    def range_vectors(self, start: int, end: int) -> np.ndarray:
        """Stored vectors of ids [start, end) as float32 rows (indexes override it with a bulk read)."""
        return self.reconstruct(list(range(start, end)))

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the index's files into a bundle folder."""

    def close(self) -> None:  # noqa: B027  # most indexes hold nothing to release
        """Release open files."""


def faiss_selector(id_filter: IdFilter, ntotal: int) -> tuple[Any, list[Any]]:
    """A faiss IDSelector for the filter, plus buffers it reads that must outlive the search."""
    import faiss

    lib: Any = faiss  # faiss's type stubs lack some SWIG attributes
    keep: list[Any] = []
    if id_filter.mask is None:
        assert id_filter.id_range is not None
        start, end = id_filter.id_range
        selector = lib.IDSelectorRange(start, end)
        # Rows are added in id order, so each IVF list is sorted by id: the range becomes one slice
        # of each list (found by binary search) instead of a test of every code.
        selector.assume_sorted = True
        return selector, keep
    mask = id_filter.mask
    if id_filter.id_range is not None:
        start, end = id_filter.id_range
        mask = np.zeros(ntotal, dtype=bool)
        mask[start:end] = id_filter.mask[start:end]
    bits = np.packbits(mask, bitorder="little")
    keep.append(bits)
    return lib.IDSelectorBitmap(len(bits), lib.swig_ptr(bits)), keep  # size in bytes
