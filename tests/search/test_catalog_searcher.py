"""CatalogSearcher: with the exact index, matches and tier lists equal numpy brute force."""

from __future__ import annotations

import numpy as np
import pytest

from snapbuy.errors import InvalidParameterError
from snapbuy.search import CatalogSearcher, ScoredProduct, SearchOptions, SearchResult, SearchService
from tests.search.conftest import random_query


def brute_force(
    catalog: CatalogSearcher, query: np.ndarray, k: int, allowed_rows: np.ndarray
) -> list[tuple[int, float]]:
    """Top-k (product row, score) by each product's best vector, over allowed product rows."""
    cols = catalog.columns
    vectors = catalog.index.reconstruct(list(range(catalog.index.ntotal)))
    vector_scores = vectors @ query
    best = np.full(len(cols.price), -np.inf)
    np.maximum.at(best, cols.vector_product, vector_scores)
    best[~allowed_rows] = -np.inf
    order = np.argsort(-best, kind="stable")[:k]
    return [(int(r), float(best[r])) for r in order if np.isfinite(best[r])]


def row_of(catalog: CatalogSearcher, sku: str) -> int:
    return catalog.product(sku).row


def assert_equal_to_brute_force(
    service: SearchService,
    result: SearchResult,
    query: np.ndarray,
    options: SearchOptions,
    exclude: int | None = None,
) -> None:
    catalog = service.catalog
    cols = catalog.columns
    price_ok = np.ones(len(cols.price), bool)
    if options.min_price is not None:
        price_ok &= cols.price >= options.min_price
    if options.max_price is not None:
        price_ok &= cols.price <= options.max_price
    if exclude is not None:
        price_ok[exclude] = False
    category_ok = np.ones(len(cols.price), bool)
    if options.category is not None:
        category_ok = cols.category_code == cols.categories.index(options.category)

    def check(items: list[ScoredProduct], allowed: np.ndarray) -> None:
        expected = brute_force(catalog, query, options.k, allowed)
        assert [row_of(catalog, i.sku) for i in items] == [r for r, _ in expected]
        scores = np.array([i.score for i in items], dtype=np.float64)  # a missing score is NaN: fails
        np.testing.assert_allclose(scores, np.array([s for _, s in expected]), atol=1e-5)

    check(result.matches, price_ok & category_ok)
    in_category = cols.category_code == cols.categories.index(result.category)
    bounds = catalog.tier_bounds[result.category]
    assert [t.name for t in result.tiers] == [b.name for b in bounds]
    for tier, bound in zip(result.tiers, bounds, strict=True):
        in_tier = np.array([bound.contains(p) for p in cols.price])
        check(tier.items, price_ok & in_category & in_tier)
        assert all(i.category == result.category and bound.contains(i.price) for i in tier.items)


@pytest.mark.parametrize(
    "options",
    [
        SearchOptions(k=4),
        SearchOptions(k=1),
        SearchOptions(k=10, category="mug"),
        SearchOptions(k=5, min_price=1000),
        SearchOptions(k=5, max_price=800),
        SearchOptions(k=6, category="lamp", min_price=300, max_price=3000),
        SearchOptions(k=100),  # more than some tiers hold
    ],
)
def test_results_equal_brute_force(service: SearchService, options: SearchOptions) -> None:
    for seed in range(5):
        query = random_query(seed)
        result = service.search_vector(query, options)
        assert_equal_to_brute_force(service, result, query, options)
        assert result.category_source == ("request" if options.category else "predicted")


def test_category_vote_is_score_weighted(service: SearchService) -> None:
    product = service.catalog.product("SKU010")
    query = service.catalog.first_vector_of(product)
    assert service.catalog.search(query, SearchOptions(k=2)).category == product.category


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (SearchOptions(k=0), "k must be"),
        (SearchOptions(category="spaceship"), "unknown category"),
        (SearchOptions(min_price=-1), "negative"),
        (SearchOptions(min_price=500, max_price=100), "greater than"),
    ],
)
def test_bad_options_are_rejected(service: SearchService, options: SearchOptions, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        service.catalog.search(random_query(0), options)


def test_an_effort_scale_leaves_the_exact_index_exact(service: SearchService) -> None:
    query = random_query(3)
    options = SearchOptions(k=5)
    assert service.catalog.search(query, options, effort_scale=0.25) == service.catalog.search(query, options)


def test_best_scores_are_each_rows_nearest_catalog_vector(service: SearchService) -> None:
    catalog = service.catalog
    queries = np.stack([random_query(seed) for seed in range(4)])
    vectors = catalog.index.reconstruct(list(range(catalog.index.ntotal)))
    np.testing.assert_allclose(catalog.best_scores(queries), (queries @ vectors.T).max(axis=1), atol=1e-5)
