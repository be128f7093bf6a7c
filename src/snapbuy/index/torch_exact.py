"""Exact search on a GPU: the catalog as one float16 torch matrix, searched by brute force.

The top-k comes from faiss's GPU brute-force k-NN (`knn_gpu`, run on the torch tensors in place) when a
GPU build of faiss is installed, else from a torch matrix product and `topk`. faiss's GPU *indexes* are
not used: they ignore IDSelectors, and every tier list is a filtered search. Tier partitions are
contiguous id ranges, so a filtered search is a search of a slice of the matrix, no copy; a price
filter (an id mask) is scored with torch. On the CPU (tests) the matrix stays float32: CPU
half-precision matrix products are slow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snapbuy.index.base import IdFilter, VectorIndex, empty_result

LOAD_CHUNK_ROWS = 262_144


def _dtype(device: str) -> Any:
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


@dataclass(frozen=True)
class TopK:
    """A brute-force top-k over torch tensors: (queries [q, d], base [n, d], k) -> (scores, ids)."""

    name: str
    search: Callable[[Any, Any, int], tuple[Any, Any]]


def _torch_search(queries: Any, base: Any, k: int) -> tuple[Any, Any]:
    import torch

    scores, ids = torch.topk(queries @ base.T, k, dim=1)
    return scores, ids


TORCH_TOPK = TopK("torch", _torch_search)


def faiss_gpu_available(faiss_module: Any = None) -> bool:
    """True when the installed faiss is a GPU build and sees a GPU (faiss-cpu has no GPU resources)."""
    if faiss_module is None:
        import faiss as faiss_module
    return hasattr(faiss_module, "StandardGpuResources") and int(faiss_module.get_num_gpus()) > 0


def faiss_gpu_topk(faiss_module: Any = None) -> TopK:
    """faiss's GPU brute-force k-NN on the torch tensors themselves (float16 kept, nothing copied)."""
    if faiss_module is None:
        import faiss as faiss_module
        import faiss.contrib.torch_utils  # lets knn_gpu take torch tensors
    resources = faiss_module.StandardGpuResources()

    def search(queries: Any, base: Any, k: int) -> tuple[Any, Any]:
        device = base.device.index if base.device.index is not None else -1
        scores, ids = faiss_module.knn_gpu(
            resources, queries, base, k, metric=faiss_module.METRIC_INNER_PRODUCT, device=device
        )
        return scores, ids

    return TopK("faiss knn_gpu", search)


def gpu_topk() -> TopK:
    """The GPU top-k to use here: faiss's when a GPU build of faiss is installed, else torch's."""
    return faiss_gpu_topk() if faiss_gpu_available() else TORCH_TOPK


class TorchExactIndex(VectorIndex):
    kind = "torch-exact"

    def __init__(self, matrix: Any, topk: TopK = TORCH_TOPK) -> None:
        self._matrix = matrix  # torch.Tensor [n, dim] on its device
        self.topk = topk

    @classmethod
    def from_index(cls, index: VectorIndex, device: str, topk: TopK = TORCH_TOPK) -> TorchExactIndex:
        """Copy an index's vectors to `device`, a chunk at a time (no full float32 copy on the host)."""
        import torch

        matrix = torch.empty((index.ntotal, index.dim), dtype=_dtype(device), device=device)
        for start in range(0, index.ntotal, LOAD_CHUNK_ROWS):
            end = min(index.ntotal, start + LOAD_CHUNK_ROWS)
            matrix[start:end] = torch.from_numpy(index.range_vectors(start, end)).to(device, matrix.dtype)
        return cls(matrix, topk)

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, device: str, topk: TopK = TORCH_TOPK) -> TorchExactIndex:
        import torch

        matrix = torch.empty(vectors.shape, dtype=_dtype(device), device=device)
        for start in range(0, len(vectors), LOAD_CHUNK_ROWS):
            chunk = np.ascontiguousarray(vectors[start : start + LOAD_CHUNK_ROWS], dtype=np.float32)
            matrix[start : start + len(chunk)] = torch.from_numpy(chunk).to(device, matrix.dtype)
        return cls(matrix, topk)

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
            scores, ids = self.topk.search(q.to(self._matrix.dtype), self._matrix, k)
        return scores.float().cpu().numpy(), ids.cpu().numpy().astype(np.int64)

    def search(
        self,
        query: np.ndarray,
        k: int,
        id_filter: IdFilter | None = None,
        *,
        effort_scale: float = 1.0,
        wanted: int | None = None,
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
        q = torch.from_numpy(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32))
        q = q.to(self._matrix.device, self._matrix.dtype)
        top = min(k, end - start)
        with torch.inference_mode():
            if id_filter.mask is None:  # a tier or category: a slice, searched like the whole matrix
                best, where = self.topk.search(q, self._matrix[start:end], top)
            else:
                scores = (q @ self._matrix[start:end].T).float()
                allowed = torch.from_numpy(np.ascontiguousarray(id_filter.mask[start:end]))
                scores = scores.masked_fill(~allowed.to(scores.device), float("-inf"))
                best, where = torch.topk(scores, top, dim=1)
        best_np, where_np = best[0].float().cpu().numpy(), where[0].cpu().numpy()
        real = np.isfinite(best_np)
        out_scores[: int(real.sum())] = best_np[real]
        out_ids[: int(real.sum())] = where_np[real] + start
        return out_scores, out_ids
