"""CatalogSearcher: with the exact index, matches and tier lists equal numpy brute force."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from snapbuy.errors import InvalidParameterError
from snapbuy.index import IdFilter
from snapbuy.search import CatalogSearcher, ScoredProduct, SearchOptions, SearchResult, SearchService
from tests.search.conftest import random_query


def brute_force(
    catalog: CatalogSearcher, query: np.ndarray, k: int, allowed_rows: np.ndarray, collapse: bool = False
) -> list[tuple[int, float]]:
    """Top-k (product row, score) by each product's best vector, over allowed product rows; with
    `collapse`, each variant group counts once, by its best-scoring allowed product."""
    cols = catalog.columns
    vectors = catalog.index.reconstruct(list(range(catalog.index.ntotal)))
    vector_scores = vectors @ query
    best = np.full(len(cols.price_paid), -np.inf)
    np.maximum.at(best, cols.vector_product, vector_scores)
    best[~allowed_rows] = -np.inf
    order = np.argsort(-best, kind="stable")
    if collapse:  # the first (best) row of each group
        _, first = np.unique(cols.group_code[order], return_index=True)
        order = order[np.sort(first)]
    return [(int(r), float(best[r])) for r in order[:k] if np.isfinite(best[r])]


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
    price_ok = cols.in_stock.copy() if not options.include_out_of_stock else np.ones(len(cols.in_stock), bool)
    if options.min_price is not None:
        price_ok &= cols.price_paid >= options.min_price
    if options.max_price is not None:
        price_ok &= cols.price_paid <= options.max_price
    if exclude is not None:
        price_ok[exclude] = False
    category_ok = np.ones(len(cols.price_paid), bool)
    if options.category is not None:
        category_ok = cols.category_code == cols.categories.index(options.category)

    def check(items: list[ScoredProduct], allowed: np.ndarray) -> None:
        expected = brute_force(catalog, query, options.k, allowed, options.collapse)
        assert [row_of(catalog, i.sku) for i in items] == [r for r, _ in expected]
        scores = np.array([i.score for i in items], dtype=np.float64)  # a missing score is NaN: fails
        np.testing.assert_allclose(scores, np.array([s for _, s in expected]), atol=1e-5)

    check(result.matches, price_ok & category_ok)
    for item in every_item(result):  # each lists the rest of its variant group
        group = cols.group_code[item.row]
        others = [r.row for r in item.variants]
        expected_others = (
            []
            if not options.collapse
            else [r for r in catalog.columns.variant_rows(item.row) if r != item.row]
        )
        assert others == expected_others and all(cols.group_code[r] == group for r in others)
    in_category = cols.category_code == cols.categories.index(result.category)
    bounds = catalog.tier_bounds[result.category]
    assert [t.name for t in result.tiers] == [b.name for b in bounds]
    for tier, bound in zip(result.tiers, bounds, strict=True):
        in_tier = np.array([bound.contains(p) for p in cols.price_paid])
        check(tier.items, price_ok & in_category & in_tier)
        assert all(i.category == result.category and bound.contains(i.price_paid) for i in tier.items)


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
        SearchOptions(k=4, collapse=False),
        SearchOptions(k=10, category="mug", collapse=False),
        SearchOptions(k=5, min_price=1000, collapse=False),
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


# --- stock and sales: tests/search/conftest.py's with_stock_and_sales --------------------------------


@pytest.mark.parametrize(
    "options",
    [
        SearchOptions(k=4),
        SearchOptions(k=4, include_out_of_stock=True),
        SearchOptions(k=10, category="mug"),
        SearchOptions(k=5, max_price=800),
        SearchOptions(k=6, category="lamp", min_price=300, max_price=3000, include_out_of_stock=True),
        SearchOptions(k=100),  # more than some tiers hold
        SearchOptions(k=4, collapse=False),
        SearchOptions(k=5, max_price=800, collapse=False),
    ],
)
def test_stock_and_sales_results_equal_brute_force(
    stocked_service: SearchService, options: SearchOptions
) -> None:
    for seed in range(5):
        query = random_query(seed)
        result = stocked_service.search_vector(query, options)
        assert_equal_to_brute_force(stocked_service, result, query, options)


def every_item(result: SearchResult) -> list[ScoredProduct]:
    return [*result.matches, *(item for tier in result.tiers for item in tier.items)]


def test_an_out_of_stock_nearest_neighbour_is_hidden_unless_asked_for(stocked_service: SearchService) -> None:
    catalog = stocked_service.catalog
    record = catalog.product("SKU006")
    assert record.availability == "out_of_stock"
    query = catalog.first_vector_of(record)

    hidden = stocked_service.search_vector(query, SearchOptions(k=4))
    assert hidden.category == record.category  # the out-of-stock exact match still tells the category
    assert every_item(hidden) and all(i.availability != "out_of_stock" for i in every_item(hidden))

    shown = stocked_service.search_vector(query, SearchOptions(k=4, include_out_of_stock=True))
    assert shown.matches[0].sku == "SKU006"
    own_tier = next(tier for tier in shown.tiers if tier.name == record.tier)
    assert own_tier.items[0].sku == "SKU006"


def test_a_tier_is_never_short_when_out_of_stock_products_are_nearer(stocked_service: SearchService) -> None:
    catalog = stocked_service.catalog
    record = catalog.product("SKU006")
    cols = catalog.columns
    in_tier = (cols.category_code == cols.categories.index(record.category)) & (
        cols.tier_code == cols.tiers.index(record.tier)
    )
    orderable = int((in_tier & cols.in_stock).sum())
    assert orderable >= 2 and int((in_tier & ~cols.in_stock).sum()) >= 2
    query = catalog.first_vector_of(record)

    def tier_items(options: SearchOptions) -> list[ScoredProduct]:
        result = stocked_service.search_vector(query, options)
        return next(tier for tier in result.tiers if tier.name == record.tier).items

    # The tier's k nearest include out-of-stock products (SKU006 first of all), so filtering a list of k
    # afterwards would come back short.
    nearest = tier_items(SearchOptions(k=orderable, include_out_of_stock=True, collapse=False))
    assert nearest[0].sku == "SKU006"
    items = tier_items(SearchOptions(k=orderable, collapse=False))
    assert len(items) == orderable  # every orderable product of the tier, none missing
    assert all(i.availability != "out_of_stock" for i in items)
    # Collapsed: every variant group with an orderable product in the tier, none missing.
    groups = len(np.unique(cols.group_code[in_tier & cols.in_stock]))
    designs = tier_items(SearchOptions(k=orderable))
    assert len(designs) == groups and all(i.availability != "out_of_stock" for i in designs)


def test_price_filters_and_tiers_use_the_price_paid(stocked_service: SearchService) -> None:
    catalog = stocked_service.catalog
    on_sale = catalog.product("SKU010")  # in stock, half price
    assert on_sale.sale_price is not None and on_sale.sale_price < on_sale.price
    assert on_sale.price_paid == on_sale.sale_price
    bounds = {b.name: b for b in catalog.tier_bounds[on_sale.category]}
    assert bounds[on_sale.tier].contains(on_sale.price_paid)
    query = catalog.first_vector_of(on_sale)

    cheap = stocked_service.search_vector(query, SearchOptions(k=3, max_price=on_sale.sale_price))
    assert cheap.matches[0].sku == "SKU010"  # its regular price is above max_price, its sale price not
    dear = stocked_service.search_vector(query, SearchOptions(k=3, min_price=on_sale.sale_price + 0.01))
    assert "SKU010" not in [i.sku for i in every_item(dear)]

    ended = catalog.product("SKU011")  # its sale ended before the index was built
    assert ended.sale_price is None and ended.sale_price_effective_date is None
    assert ended.price_paid == ended.price


def searched_masks(
    service: SearchService, options: SearchOptions, monkeypatch: pytest.MonkeyPatch
) -> list[bool]:
    """For each vector search one query makes: whether it was given an id mask."""
    index = service.catalog.index
    search = index.search
    masked: list[bool] = []

    def recording(query: np.ndarray, k: int, id_filter: IdFilter | None = None, **kwargs: Any) -> Any:
        masked.append(id_filter is not None and id_filter.mask is not None)
        return search(query, k, id_filter, **kwargs)

    monkeypatch.setattr(index, "search", recording)
    service.search_vector(random_query(1), options)
    monkeypatch.undo()
    return masked


def test_no_mask_when_no_product_is_hidden(
    service: SearchService, stocked_service: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not any(searched_masks(service, SearchOptions(k=4), monkeypatch))  # nothing out of stock
    shown = searched_masks(stocked_service, SearchOptions(k=4, include_out_of_stock=True), monkeypatch)
    assert not any(shown)
    # Hiding out-of-stock products masks the tier searches (the vote's search stays unmasked).
    assert any(searched_masks(stocked_service, SearchOptions(k=4), monkeypatch))


def best_vector_scores(catalog: CatalogSearcher, query: np.ndarray) -> np.ndarray:
    """Each product row's best vector score against `query`."""
    cols = catalog.columns
    scores = catalog.index.reconstruct(list(range(catalog.index.ntotal))) @ query
    best = np.full(len(cols.price_paid), -np.inf)
    np.maximum.at(best, cols.vector_product, scores)
    return best


@pytest.mark.parametrize(
    "options",
    [
        SearchOptions(k=4),
        SearchOptions(k=6, category="lamp"),
        SearchOptions(k=5, max_price=900),
        SearchOptions(k=4, offset=2),
    ],
)
def test_a_variant_query_picks_each_designs_variant_and_keeps_the_designs(
    stocked_service: SearchService, options: SearchOptions
) -> None:
    """Words pick the variant shown: of each listed design, the variant nearest the variant query
    among those the list may hold (filters, stock, the tier's prices); designs, order and scores
    stay the query's."""
    catalog = stocked_service.catalog
    cols = catalog.columns
    changed = 0
    for seed in range(6):
        query, words = random_query(seed), random_query(100 + seed)
        plain = stocked_service.search_vector(query, options)
        picked = stocked_service.search_vector(query, options, variant_query=words)
        by_words = best_vector_scores(catalog, words)
        allowed = cols.in_stock.copy()
        if options.max_price is not None:
            allowed &= cols.price_paid <= options.max_price
        in_category = cols.category_code == cols.categories.index(plain.category)
        lists = [(plain.matches, picked.matches, options.category is not None, None)] + [
            (a.items, b.items, True, a.name) for a, b in zip(plain.tiers, picked.tiers, strict=True)
        ]
        for before, after, category_bound, tier in lists:
            assert [cols.group_code[i.row] for i in after] == [cols.group_code[i.row] for i in before]
            assert [i.score for i in after] == [i.score for i in before]
            for item in after:
                rows = cols.variant_rows(item.row)
                ok = allowed[rows]
                if category_bound:
                    ok &= in_category[rows]
                if tier is not None:
                    ok &= cols.tier_code[rows] == cols.tiers.index(tier)
                eligible = rows[ok]
                assert item.row in eligible
                assert by_words[item.row] == pytest.approx(by_words[eligible].max(), abs=1e-6)
                assert [v.row for v in item.variants] == [r for r in rows if r != item.row]
            changed += sum(a.row != b.row for a, b in zip(before, after, strict=True))
    assert changed > 0  # the words moved some designs to another variant


def test_without_collapse_a_variant_query_changes_nothing(service: SearchService) -> None:
    options = SearchOptions(k=5, collapse=False)
    query = random_query(3)
    plain = service.search_vector(query, options)
    picked = service.search_vector(query, options, variant_query=random_query(4))
    assert [i.sku for i in every_item(picked)] == [i.sku for i in every_item(plain)]


def test_a_design_lists_at_most_so_many_variants_and_counts_them_all(
    service: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import snapbuy.search.catalog_searcher as catalog_searcher

    monkeypatch.setattr(catalog_searcher, "MAX_LISTED_VARIANTS", 1)
    cols = service.catalog.columns
    result = service.search_vector(random_query(2), SearchOptions(k=4))
    grouped = [item for item in every_item(result) if len(cols.variant_rows(item.row)) > 2]
    assert grouped
    for item in every_item(result):
        others = [r for r in cols.variant_rows(item.row) if r != item.row]
        assert item.variant_count == len(others)
        assert [v.row for v in item.variants] == others[:1]
    record = service.catalog.product_with_variants(grouped[0].sku)
    assert len(record.variants) == 1 and record.variant_count == len(cols.variant_rows(record.row)) - 1
