"""Approximate indexes: recall against exact search, filters that never leak, exact re-ranked scores,
per-call effort, and the exact path for partitions too small or too sparse to search approximately."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from snapbuy.bench.vectors import SyntheticCatalog, synthetic_catalog, synthetic_queries
from snapbuy.index import ApproximateIndex, FlatIndex, IdFilter, build_vector_index, choose_index
from snapbuy.index.approximate import EXACT_SCAN_LIMIT, SearchEffort

N, DIM = 12_000, 64


@pytest.fixture(scope="module")
def catalog() -> SyntheticCatalog:
    return synthetic_catalog(N, dim=DIM, seed=5)


@pytest.fixture(scope="module")
def queries(catalog: SyntheticCatalog) -> np.ndarray:
    rows = np.random.default_rng(3).integers(0, N, 40)
    return synthetic_queries(catalog, rows, seed=4)


@pytest.fixture(scope="module")
def ivf(catalog: SyntheticCatalog) -> ApproximateIndex:
    index = build_vector_index(catalog.vectors, choose_index("ivf", N, DIM))
    assert isinstance(index, ApproximateIndex) and index.kind == "ivf"
    return index


@pytest.fixture(scope="module")
def flat(catalog: SyntheticCatalog) -> FlatIndex:
    return FlatIndex.build(catalog.vectors)


def recall(got: np.ndarray, want: np.ndarray) -> float:
    return len(set(got[got >= 0].tolist()) & set(want[want >= 0].tolist())) / max(1, int((want >= 0).sum()))


def assert_exact_up_to_float16(
    got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]
) -> None:
    """Exact search over float16 rows: the same scores as float32 search to ~1e-3, so the same ids
    except where two scores tie that closely."""
    np.testing.assert_allclose(got[0], want[0], atol=2e-3)
    assert recall(got[1], want[1]) >= 0.9


def test_unfiltered_and_tier_recall_against_flat(
    ivf: ApproximateIndex,
    flat: FlatIndex,
    catalog: SyntheticCatalog,
    queries: np.ndarray,
) -> None:
    ranges = list(catalog.ranges().values())
    matches = [recall(ivf.search(q, 10)[1], flat.search(q, 10)[1]) for q in queries]
    tiers = [
        recall(ivf.search(q, 10, IdFilter(r))[1], flat.search(q, 10, IdFilter(r))[1])
        for q in queries
        for r in ranges[::7]
    ]
    assert np.mean(matches) >= 0.9
    assert np.mean(tiers) >= 0.9


def test_scores_are_exact_and_sorted(ivf: ApproximateIndex, catalog, queries: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    scores, ids = ivf.search(queries[0], 10)
    np.testing.assert_allclose(scores, catalog.vectors[ids] @ queries[0], atol=2e-3)  # float16 rows
    assert np.all(np.diff(scores) <= 0)


def test_filters_never_return_disallowed_ids(ivf: ApproximateIndex, queries: np.ndarray) -> None:
    mask = np.random.default_rng(9).random(N) < 0.2
    cases = [
        (IdFilter(id_range=(3000, 7000)), np.arange(N)[(np.arange(N) >= 3000) & (np.arange(N) < 7000)]),
        (IdFilter(mask=mask), np.flatnonzero(mask)),
        (IdFilter(id_range=(0, 6000), mask=mask), np.flatnonzero(mask[:6000])),
    ]
    for flt, allowed in cases:
        for q in queries[:10]:
            _, ids = ivf.search(q, 15, flt)
            assert set(ids[ids >= 0].tolist()) <= set(allowed.tolist())
            assert (ids >= 0).sum() == 15


def test_small_partition_is_searched_exactly(
    ivf: ApproximateIndex, flat: FlatIndex, queries: np.ndarray
) -> None:
    small = IdFilter(id_range=(500, 500 + EXACT_SCAN_LIMIT))
    for q in queries[:10]:
        assert_exact_up_to_float16(ivf.search(q, 10, small), flat.search(q, 10, small))


def test_padding_and_nothing_allowed(ivf: ApproximateIndex, queries: np.ndarray) -> None:
    scores, ids = ivf.search(queries[0], 10, IdFilter(id_range=(100, 104)))
    assert sorted(ids[:4].tolist()) == [100, 101, 102, 103] and np.all(ids[4:] == -1)
    assert np.all(np.isneginf(scores[4:]))
    _, none = ivf.search(queries[0], 10, IdFilter(mask=np.zeros(N, dtype=bool)))
    assert np.all(none == -1)


def test_effort_is_per_call_not_set_on_the_index(ivf: ApproximateIndex, queries: np.ndarray) -> None:
    import faiss

    nprobe_before = faiss.extract_index_ivf(ivf._ann).nprobe
    ivf.search(queries[0], 10, IdFilter(id_range=(0, 4000)))
    ivf.with_effort(SearchEffort(base=64)).search(queries[0], 10)
    ivf.search(queries[0], 10, effort_scale=4.0)
    assert faiss.extract_index_ivf(ivf._ann).nprobe == nprobe_before
    assert ivf.effort.scaled(4.0).base == 4 * ivf.effort.base and ivf.effort.scaled(1e-9).base == 1


def test_effort_scale_changes_only_that_call(ivf: ApproximateIndex, queries: np.ndarray) -> None:
    whole = ivf.with_effort(SearchEffort(base=ivf._nlist))
    for q in queries[:5]:
        np.testing.assert_array_equal(
            ivf.search(q, 10, effort_scale=ivf._nlist / ivf.effort.base)[1], whole.search(q, 10)[1]
        )
    assert ivf.effort.base < ivf._nlist


def test_more_effort_never_lowers_recall_much(
    ivf: ApproximateIndex, flat: FlatIndex, queries: np.ndarray
) -> None:
    low = ivf.with_effort(SearchEffort(base=1, filtered_share=0.05))
    high = ivf.with_effort(SearchEffort(base=ivf._nlist))  # every list: exact up to the codes
    want = [flat.search(q, 10)[1] for q in queries]
    low_recall = np.mean([recall(low.search(q, 10)[1], w) for q, w in zip(queries, want, strict=True)])
    high_recall = np.mean([recall(high.search(q, 10)[1], w) for q, w in zip(queries, want, strict=True)])
    assert high_recall >= 0.99 and high_recall > low_recall


def test_save_and_load_round_trip(tmp_path: Path, ivf: ApproximateIndex, queries: np.ndarray) -> None:
    ivf.save(tmp_path)
    loaded = ApproximateIndex.load(tmp_path, ivf.effort)
    try:
        assert loaded.ntotal == N and loaded.dim == DIM and loaded.kind == "ivf"
        for q in queries[:5]:
            for flt in (None, IdFilter(id_range=(2000, 9000))):
                np.testing.assert_array_equal(ivf.search(q, 10, flt)[1], loaded.search(q, 10, flt)[1])
        np.testing.assert_allclose(loaded.reconstruct([5, 7]), ivf.reconstruct([5, 7]))
    finally:
        loaded.close()


def test_concurrent_filtered_searches_match_sequential(ivf: ApproximateIndex, queries: np.ndarray) -> None:
    ranges = [(i * 1000, i * 1000 + 1500) for i in range(8)]
    jobs = [(qi, r) for qi in range(len(queries[:10])) for r in ranges]
    want = [ivf.search(queries[qi], 8, IdFilter(r))[1] for qi, r in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda job: ivf.search(queries[job[0]], 8, IdFilter(job[1]))[1], jobs))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_hnsw_scores_a_sparse_partition_exactly(catalog, flat: FlatIndex, queries: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    hnsw = build_vector_index(catalog.vectors, choose_index("hnsw", N, DIM))
    assert isinstance(hnsw, ApproximateIndex) and hnsw.kind == "hnsw"
    # With efSearch 400 a walk allowed on 1000 of 12,000 nodes would need efSearch > 4096.
    eager = hnsw.with_effort(SearchEffort(base=400))
    sparse = IdFilter(id_range=(1000, 2000))
    assert eager._graph_too_sparse(1000, eager.effort) and not hnsw._graph_too_sparse(1000, hnsw.effort)
    for q in queries[:5]:
        assert_exact_up_to_float16(eager.search(q, 10, sparse), flat.search(q, 10, sparse))
        _, ids = hnsw.search(q, 10, sparse)  # the graph walk with a selector
        assert ((ids >= 1000) & (ids < 2000)).all()
    assert np.mean([recall(hnsw.search(q, 10)[1], flat.search(q, 10)[1]) for q in queries]) >= 0.9


def test_factory_with_a_pre_transform_accepts_filters(catalog, queries: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    index = build_vector_index(catalog.vectors, choose_index("PCA32,IVF32,SQ8", N, DIM))
    assert isinstance(index, ApproximateIndex) and index.kind == "ivf"
    _, ids = index.search(queries[0], 10, IdFilter(id_range=(4000, 8000)))
    assert ((ids >= 4000) & (ids < 8000)).all()


def test_the_rerank_pool_is_sized_for_the_results_kept(
    ivf: ApproximateIndex, queries: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools: list[int] = []
    search = ivf._ann.search

    def recorded(q: np.ndarray, candidates: int, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
        pools.append(candidates)
        return search(q, candidates, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(ivf._ann, "search", recorded)
    scores, ids = ivf.search(queries[0], 30, wanted=10)
    assert pools == [10 * ivf.effort.rerank_factor] and len(ids) == 30 and (ids >= 0).all()
    assert list(scores) == sorted(scores, reverse=True)
    ivf.search(queries[0], 30)
    assert pools[-1] == 30 * ivf.effort.rerank_factor  # without `wanted`, for all k
    # The pool is the one a search for 10 re-ranks, so its first 10 are that search's answer.
    for q in queries[:10]:
        np.testing.assert_array_equal(ivf.search(q, 30, wanted=10)[1][:10], ivf.search(q, 10)[1])
