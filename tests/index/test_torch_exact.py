"""The GPU search path, run on the CPU device (CI has no GPU): it must equal exact flat search."""

from __future__ import annotations

import numpy as np
import pytest

from snapbuy.index import FlatIndex, IdFilter, build_vector_index, choose_index
from snapbuy.index.torch_exact import TorchExactIndex


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    x = np.random.default_rng(3).standard_normal((2000, 32)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


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
