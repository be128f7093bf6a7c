"""Exact search with torch on a GPU: the catalog as one float16 matrix, a matrix product and top-k.

Used when a GPU is asked for and no GPU build of faiss is installed. Tier partitions are contiguous id
ranges, so a filtered search is a product with a slice of the matrix, no copy. On the CPU (tests) the
matrix stays float32: CPU half-precision matrix products are slow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snapbuy.index.base import IdFilter, VectorIndex, empty_result

LOAD_CHUNK_ROWS = 262_144


def _dtype(device: str) -> Any:
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


class TorchExactIndex(VectorIndex):
    kind = "torch-exact"

    def __init__(self, matrix: Any) -> None:
        self._matrix = matrix  # torch.Tensor [n, dim] on its device

    @classmethod
    def from_index(cls, index: VectorIndex, device: str) -> TorchExactIndex:
        """Copy an index's vectors to `device`, a chunk at a time (no full float32 copy on the host)."""
        import torch

        matrix = torch.empty((index.ntotal, index.dim), dtype=_dtype(device), device=device)
        for start in range(0, index.ntotal, LOAD_CHUNK_ROWS):
            end = min(index.ntotal, start + LOAD_CHUNK_ROWS)
            matrix[start:end] = torch.from_numpy(index.range_vectors(start, end)).to(device, matrix.dtype)
        return cls(matrix)

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, device: str) -> TorchExactIndex:
        import torch

        matrix = torch.empty(vectors.shape, dtype=_dtype(device), device=device)
        for start in range(0, len(vectors), LOAD_CHUNK_ROWS):
            chunk = np.ascontiguousarray(vectors[start : start + LOAD_CHUNK_ROWS], dtype=np.float32)
            matrix[start : start + len(chunk)] = torch.from_numpy(chunk).to(device, matrix.dtype)
        return cls(matrix)

    @property
    def ntotal(self) -> int:
        return int(self._matrix.shape[0])

    @property
    def dim(self) -> int:
        return int(self._matrix.shape[1])

    @property
    def device(self) -> str:
        return str(self._matrix.device)

    def save(self, folder: Path) -> None:
        raise NotImplementedError("a GPU copy is built from a bundle's index, never saved as one")

    def reconstruct(self, vector_ids: list[int]) -> np.ndarray:
        import torch

        rows = self._matrix[torch.as_tensor(vector_ids, dtype=torch.long, device=self._matrix.device)]
        out: np.ndarray = rows.float().cpu().numpy()
        return out

    def search_batch(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        k = max(1, min(k, self.ntotal))
        q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).to(self._matrix.device)
        with torch.inference_mode():
            scores, ids = torch.topk(q.to(self._matrix.dtype) @ self._matrix.T, k, dim=1)
        return scores.float().cpu().numpy(), ids.cpu().numpy().astype(np.int64)

    def search(
        self, query: np.ndarray, k: int, id_filter: IdFilter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        k = max(1, min(k, self.ntotal))
        if id_filter is None or id_filter.is_empty:
            scores, ids = self.search_batch(query.reshape(1, -1), k)
            return scores[0], ids[0]
        start, end = id_filter.id_range if id_filter.id_range is not None else (0, self.ntotal)
        out_scores, out_ids = empty_result(k)
        if end <= start:
            return out_scores, out_ids
        q = torch.from_numpy(np.ascontiguousarray(query.reshape(-1), dtype=np.float32))
        with torch.inference_mode():
            scores = self._matrix[start:end] @ q.to(self._matrix.device, self._matrix.dtype)
            if id_filter.mask is not None:
                allowed = torch.from_numpy(np.ascontiguousarray(id_filter.mask[start:end]))
                scores = scores.float().masked_fill(~allowed.to(scores.device), float("-inf"))
            top = min(k, end - start)
            best, where = torch.topk(scores.float(), top)
        best_np, where_np = best.cpu().numpy(), where.cpu().numpy()
        real = np.isfinite(best_np)
        out_scores[: int(real.sum())] = best_np[real]
        out_ids[: int(real.sum())] = where_np[real] + start
        return out_scores, out_ids
