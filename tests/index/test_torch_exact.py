"""The GPU search path, run on the CPU device (CI has no GPU): it must equal exact flat search."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
import pytest
import torch

from snapbuy.index import FlatIndex, IdFilter, build_vector_index, choose_index
from snapbuy.index.torch_exact import (
    TORCH_TOPK,
    TorchExactIndex,
    faiss_gpu_available,
    faiss_gpu_topk,
    gpu_topk,
)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    x = np.random.default_rng(3).standard_normal((2000, 32)).astype(np.float32)
    unit: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return unit


def test_equals_flat_with_and_without_filters(vectors: np.ndarray) -> None:
    flat = FlatIndex.build(vectors)
    gpu_path = TorchExactIndex.from_index(flat, "cpu")
    assert gpu_path.ntotal == 2000 and gpu_path.dim == 32 and gpu_path.device == "cpu"
    mask = np.random.default_rng(1).random(2000) < 0.3
    for q in vectors[:5] * 0.9:
        for flt in (None, IdFilter(id_range=(100, 900)), IdFilter(mask=mask), IdFilter((0, 500), mask)):
            got, want = gpu_path.search(q, 10, flt), flat.search(q, 10, flt)
            np.testing.assert_array_equal(got[1], want[1])
            np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    _scores, ids = gpu_path.search_batch(vectors[:3], 4)
    assert ids.shape == (3, 4) and list(ids[:, 0]) == [0, 1, 2]
    np.testing.assert_allclose(gpu_path.reconstruct([7]), vectors[7:8], atol=1e-6)


def test_padding_when_fewer_are_allowed(vectors: np.ndarray) -> None:
    index = TorchExactIndex.from_index(FlatIndex.build(vectors), "cpu")
    mask = np.zeros(2000, dtype=bool)
    mask[[5, 9]] = True
    scores, ids = index.search(vectors[5], 5, IdFilter(mask=mask))
    assert ids.tolist() == [5, 9, -1, -1, -1] and np.isneginf(scores[2:]).all()
    _, none = index.search(vectors[5], 5, IdFilter(id_range=(10, 10)))
    assert (none == -1).all()


def test_copies_an_approximate_index_from_its_exact_rows(vectors: np.ndarray) -> None:
    ivf = build_vector_index(vectors, choose_index("ivf", 2000, 32))
    index = TorchExactIndex.from_index(ivf, "cpu")
    np.testing.assert_array_equal(
        index.search(vectors[11], 5)[1], FlatIndex.build(vectors).search(vectors[11], 5)[1]
    )


class FakeGpuFaiss:
    """Stands in for a GPU build of faiss: knn_gpu is brute force with torch, and records the base sizes."""

    METRIC_INNER_PRODUCT = 0

    class StandardGpuResources:
        pass

    def __init__(self) -> None:
        self.searched_rows: list[int] = []

    def get_num_gpus(self) -> int:
        return 1

    def knn_gpu(self, res: object, xq: Any, xb: Any, k: int, metric: int, device: int) -> tuple[Any, Any]:
        assert isinstance(res, FakeGpuFaiss.StandardGpuResources) and metric == self.METRIC_INNER_PRODUCT
        self.searched_rows.append(len(xb))
        scores, ids = torch.topk(xq.float() @ xb.float().T, k, dim=1)
        return scores, ids


class CpuOnlyFaiss:
    def get_num_gpus(self) -> int:
        return 0


def test_faiss_gpu_build_is_detected_by_its_gpu_resources() -> None:
    assert faiss_gpu_available(FakeGpuFaiss())
    assert not faiss_gpu_available(CpuOnlyFaiss())


@pytest.mark.skipif(hasattr(faiss, "StandardGpuResources"), reason="checks the choice with faiss-cpu")
def test_with_faiss_cpu_the_gpu_top_k_is_torch() -> None:
    assert gpu_topk() is TORCH_TOPK


def test_faiss_knn_gpu_searches_the_whole_matrix_or_a_tier_slice(vectors: np.ndarray) -> None:
    fake = FakeGpuFaiss()
    flat = FlatIndex.build(vectors)
    index = TorchExactIndex.from_index(flat, "cpu", faiss_gpu_topk(fake))
    assert index.topk.name == "faiss knn_gpu"
    q = vectors[3] * 0.9
    for flt in (None, IdFilter(id_range=(100, 900))):
        got, want = index.search(q, 10, flt), flat.search(q, 10, flt)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    assert fake.searched_rows == [2000, 800]  # the tier is a slice of the matrix, not a post-filter
    mask = np.random.default_rng(2).random(2000) < 0.5
    np.testing.assert_array_equal(
        index.search(q, 10, IdFilter(mask=mask))[1], flat.search(q, 10, IdFilter(mask=mask))[1]
    )
    assert fake.searched_rows == [2000, 800]  # a price mask is scored with torch: knn_gpu can't filter
    _, batch_ids = index.search_batch(vectors[:3], 4)
    assert list(batch_ids[:, 0]) == [0, 1, 2] and fake.searched_rows[-1] == 2000
