from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from snapbuy.bench.vectors import synthetic_catalog, synthetic_queries


def test_vectors_are_unit_rows_sorted_into_category_tier_ranges() -> None:
    catalog = synthetic_catalog(6000, dim=64, seed=3)
    assert catalog.vectors.shape == (6000, 64) and catalog.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(catalog.vectors, axis=1), 1, atol=1e-5)
    ranges = catalog.ranges()
    assert len(ranges) == 20 * 3
    covered = sorted(ranges.values())
    assert covered[0][0] == 0 and covered[-1][1] == 6000
    assert all(a[1] == b[0] for a, b in pairwise(covered))  # contiguous, no gaps
    start, end = catalog.category_range(0)
    assert end - start == 60  # the 1 % category


def test_similarity_is_clustered_like_clip_not_uniform() -> None:
    catalog = synthetic_catalog(6000, seed=1)
    v, design, category = catalog.vectors, catalog.design, catalog.category
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 6000, 4000), rng.integers(0, 6000, 4000)
    cos = np.sum(v[a] * v[b], axis=1)
    same_design = cos[(design[a] == design[b]) & (a != b)]
    same_category = cos[(category[a] == category[b]) & (design[a] != design[b])]
    unrelated = cos[category[a] != category[b]]
    assert same_design.mean() > same_category.mean() + 0.2 > unrelated.mean() + 0.3
    assert unrelated.mean() > 0.1  # a shared direction, as CLIP embeddings have; uniform noise gives ~0


def test_queries_sit_near_their_rows() -> None:
    catalog = synthetic_catalog(600, dim=128, seed=2)
    rows = np.arange(0, 600, 7)
    queries = synthetic_queries(catalog, rows, similarity=0.8)
    cos = np.sum(queries * catalog.vectors[rows], axis=1)
    assert np.allclose(cos, 0.8, atol=0.1)
    # the source row is the nearest catalog vector for nearly every query
    assert np.mean(np.argmax(queries @ catalog.vectors.T, axis=1) == rows) > 0.9


def test_too_small_catalog_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 60"):
        synthetic_catalog(50)
