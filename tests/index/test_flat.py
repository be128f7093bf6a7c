"""Exact flat index: search equals numpy brute force, with and without id filters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from snapbuy.index import FlatIndex, IdFilter, VectorIndex

N, DIM = 500, 16


def _unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    unit: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return unit


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return _unit_rows(np.random.default_rng(42), N)


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return _unit_rows(np.random.default_rng(7), 5)


@pytest.fixture(scope="module")
def index(vectors: np.ndarray) -> VectorIndex:
    return FlatIndex.build(vectors)


def brute_force(
    vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids) over the allowed ids by inner product, padded with -1 ids."""
    scores = vectors @ query
    ids = np.arange(len(vectors)) if allowed is None else np.flatnonzero(allowed)
    order = ids[np.argsort(-scores[ids], kind="stable")][:k]
    return scores[order], order


def assert_same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    got_scores, got_ids = got
    want_scores, want_ids = want
    real = got_ids >= 0
    np.testing.assert_array_equal(got_ids[real], want_ids)
    np.testing.assert_allclose(got_scores[real], want_scores, atol=1e-5)
    assert np.all(got_ids[~real] == -1)
    assert np.all(np.diff(got_scores[real]) <= 1e-6)  # sorted high to low


def range_mask(start: int, end: int) -> np.ndarray:
    mask = np.zeros(N, dtype=bool)
    mask[start:end] = True
    return mask


def test_build_flat_properties(index: VectorIndex, vectors: np.ndarray) -> None:
    assert index.ntotal == N
    assert index.dim == DIM
    np.testing.assert_array_equal(index.reconstruct([0, 17, N - 1]), vectors[[0, 17, N - 1]])


def test_build_flat_accepts_float64_and_non_contiguous(vectors: np.ndarray, queries: np.ndarray) -> None:
    doubled = np.asfortranarray(vectors.astype(np.float64))
    idx = FlatIndex.build(doubled)
    assert_same(idx.search(queries[0], 10), brute_force(vectors, queries[0], 10))


@pytest.mark.parametrize("k", [1, 10, 50])
def test_unfiltered_equals_brute_force(
    index: VectorIndex, vectors: np.ndarray, queries: np.ndarray, k: int
) -> None:
    for q in queries:
        scores, ids = index.search(q, k)
        assert ids.shape == (k,) and scores.shape == (k,)
        assert np.all(ids >= 0)
        assert_same((scores, ids), brute_force(vectors, q, k))


def test_empty_filter_is_unfiltered(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> None:
    assert_same(index.search(queries[0], 10, IdFilter()), brute_force(vectors, queries[0], 10))


def test_query_shapes(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> None:
    # A (1, dim) row and a float64 vector are the same query.
    want = brute_force(vectors, queries[1], 5)
    assert_same(index.search(queries[1].reshape(1, -1), 5), want)
    assert_same(index.search(queries[1].astype(np.float64), 5), want)


def test_id_range_equals_brute_force(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> None:
    flt = IdFilter(id_range=(120, 260))
    assert flt.allowed_count(N) == 140
    for q in queries:
        got = index.search(q, 20, flt)
        assert np.all((got[1] >= 120) & (got[1] < 260))
        assert_same(got, brute_force(vectors, q, 20, range_mask(120, 260)))


def test_mask_equals_brute_force(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> None:
    mask = np.random.default_rng(3).random(N) < 0.2
    flt = IdFilter(mask=mask)
    assert flt.allowed_count(N) == int(mask.sum())
    for q in queries:
        got = index.search(q, 25, flt)
        assert mask[got[1]].all()
        assert_same(got, brute_force(vectors, q, 25, mask))


def test_mask_on_last_ids(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> None:
    # The final ids live in the last, partly filled byte of the bitmap (500 = 62 * 8 + 4).
    mask = np.zeros(N, dtype=bool)
    mask[[0, 7, 8, 495, 496, 499]] = True
    got = index.search(queries[0], 10, IdFilter(mask=mask))
    assert sorted(got[1][got[1] >= 0].tolist()) == [0, 7, 8, 495, 496, 499]
    assert_same(got, brute_force(vectors, queries[0], 10, mask))


def test_range_and_mask_together(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> None:
    mask = np.random.default_rng(5).random(N) < 0.5
    flt = IdFilter(id_range=(100, 300), mask=mask)
    allowed = mask & range_mask(100, 300)
    assert flt.allowed_count(N) == int(allowed.sum())
    for q in queries:
        got = index.search(q, 30, flt)
        assert allowed[got[1]].all()
        assert_same(got, brute_force(vectors, q, 30, allowed))
    # The caller's mask is not modified by combining it with the range.
    np.testing.assert_array_equal(mask, np.random.default_rng(5).random(N) < 0.5)


def test_k_above_allowed_count_pads(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> None:
    mask = np.zeros(N, dtype=bool)
    mask[[3, 50, 400]] = True
    for flt, allowed in [
        (IdFilter(mask=mask), mask),
        (IdFilter(id_range=(10, 14)), range_mask(10, 14)),
        (IdFilter(id_range=(0, 200), mask=mask), mask & range_mask(0, 200)),
    ]:
        scores, ids = index.search(queries[2], 10, flt)
        count = int(allowed.sum())
        assert flt.allowed_count(N) == count
        assert ids.shape == (10,)
        assert np.all(ids[:count] >= 0)
        assert np.all(ids[count:] == -1)
        assert_same((scores, ids), brute_force(vectors, queries[2], 10, allowed))


def test_nothing_allowed(index: VectorIndex, queries: np.ndarray) -> None:
    for flt in (IdFilter(mask=np.zeros(N, dtype=bool)), IdFilter(id_range=(7, 7))):
        assert flt.allowed_count(N) == 0
        _, ids = index.search(queries[0], 5, flt)
        assert np.all(ids == -1)


def test_k_is_capped_at_ntotal(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> None:
    scores, ids = index.search(queries[0], N + 100)
    assert ids.shape == (N,)
    assert sorted(ids.tolist()) == list(range(N))
    assert_same((scores, ids), brute_force(vectors, queries[0], N))


def test_save_load_round_trip(
    tmp_path: Path, index: VectorIndex, vectors: np.ndarray, queries: np.ndarray
) -> None:
    index.save(tmp_path)
    loaded = FlatIndex.load(tmp_path)
    assert loaded.ntotal == N and loaded.dim == DIM
    mask = np.random.default_rng(11).random(N) < 0.3
    for q in queries:
        for flt in (None, IdFilter(id_range=(50, 450)), IdFilter(mask=mask)):
            a, b = index.search(q, 15, flt), loaded.search(q, 15, flt)
            np.testing.assert_array_equal(a[1], b[1])
            np.testing.assert_allclose(a[0], b[0], atol=1e-6)


def test_alternating_filters_do_not_leak(
    index: VectorIndex, vectors: np.ndarray, queries: np.ndarray
) -> None:
    mask_a = np.random.default_rng(21).random(N) < 0.1
    filters = [
        (IdFilter(mask=mask_a), mask_a),
        (IdFilter(id_range=(300, 500)), range_mask(300, 500)),
        (None, None),
        (IdFilter(id_range=(0, 100), mask=~mask_a), ~mask_a & range_mask(0, 100)),
    ]
    want = {
        (i, j): brute_force(vectors, q, 12, allowed)
        for i, q in enumerate(queries)
        for j, (_, allowed) in enumerate(filters)
    }
    for _ in range(3):
        for i, q in enumerate(queries):
            for j, (flt, _) in enumerate(filters):
                assert_same(index.search(q, 12, flt), want[i, j])
    assert index.ntotal == N
    np.testing.assert_array_equal(index.reconstruct(list(range(N))), vectors)


def test_concurrent_searches_with_different_filters(
    index: VectorIndex, vectors: np.ndarray, queries: np.ndarray
) -> None:
    masks = [np.random.default_rng(s).random(N) < 0.25 for s in range(8)]
    jobs = [(i % len(queries), m) for i, m in enumerate(masks)] * 10
    want = [brute_force(vectors, queries[qi], 8, m) for qi, m in jobs]

    def run(job: tuple[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        qi, m = job
        return index.search(queries[qi], 8, IdFilter(mask=m))

    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(run, jobs))
    for g, w in zip(got, want, strict=True):
        assert_same(g, w)


def test_results_are_not_views_of_each_other(index: VectorIndex, queries: np.ndarray) -> None:
    first = index.search(queries[0], 5)
    saved = (first[0].copy(), first[1].copy())
    index.search(queries[1], 5, IdFilter(id_range=(0, 10)))
    np.testing.assert_array_equal(first[1], saved[1])
    np.testing.assert_array_equal(first[0], saved[0])


def test_empty_index(queries: np.ndarray) -> None:
    idx = FlatIndex.build(np.zeros((0, DIM), dtype=np.float32))
    assert idx.ntotal == 0
    _, ids = idx.search(queries[0], 5)
    assert np.all(ids == -1)
