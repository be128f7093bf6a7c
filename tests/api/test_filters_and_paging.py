"""Brand and availability filters and paged matches (search/catalog_searcher.py through the routes):
each list equals exhaustive search over the same subset, and bad values are refused."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from snapbuy.search import SearchService
from tests.api.helpers import (
    PRODUCTS,
    assert_error,
    assert_same_ranking,
    brute_force,
    image_query,
    photo_png,
    upload,
)
from tests.conftest import OUT_OF_STOCK_SKU, PREORDER_SKU


def records(service: SearchService) -> dict[str, Any]:
    catalog = service.catalog
    return {r.sku: r for r in catalog.store.products_by_rows(range(len(catalog.columns.in_stock))).values()}


def assert_lists_equal_brute_force(
    service: SearchService, body: dict[str, Any], query: Any, k: int, keep: Any
) -> None:
    """Matches and each tier list equal exhaustive search over the products `keep(record)` admits."""
    by_sku = records(service)
    assert_same_ranking(body["matches"], brute_force(service, query, k, lambda sku, *_: keep(by_sku[sku])))
    for tier in body["tiers"]:
        low, high = tier["min_price"], tier["max_price"]

        def in_tier(sku: str, category: str, price: float, low: Any = low, high: Any = high) -> bool:
            inside = (low is None or price >= low) and (high is None or price < high)
            return keep(by_sku[sku]) and category == body["query"]["category"] and inside

        assert_same_ranking(tier["items"], brute_force(service, query, k, in_tier))


@pytest.mark.parametrize("brand", ["Basico", "nordlys", "AURUM"])
def test_a_brand_filter_keeps_that_brands_products_in_every_list(
    client: TestClient, sample_service: SearchService, brand: str
) -> None:
    data = photo_png()
    response = upload(client, data, {"brand": brand, "k": 10})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["matches"]) == 4 and {m["brand"].casefold() for m in body["matches"]} == {
        brand.casefold()
    }
    query = image_query(sample_service, data)
    assert_lists_equal_brute_force(
        sample_service, body, query, 10, lambda r: (r.brand or "").casefold() == brand.casefold()
    )
    text = client.get("/v1/search", params={"q": "watch", "brand": brand}).json()
    assert all(m["brand"].casefold() == brand.casefold() for m in text["matches"])


def test_an_unknown_brand_names_the_known_ones(client: TestClient) -> None:
    message = assert_error(upload(client, photo_png(), {"brand": "Rolex"}), 422, "invalid_parameter")
    assert "unknown brand 'Rolex'" in message and "Aurum, Basico, Nordlys" in message


def test_availability_filters_the_lists(stocked_client: TestClient, stocked_service: SearchService) -> None:
    data = photo_png()
    preorders = upload(stocked_client, data, {"availability": "preorder", "k": 10}).json()
    assert [m["sku"] for m in preorders["matches"]] == [PREORDER_SKU]
    query = image_query(stocked_service, data)
    assert_lists_equal_brute_force(
        stocked_service, preorders, query, 10, lambda r: r.availability == "preorder"
    )
    # Naming out_of_stock includes those products, which are hidden otherwise.
    both = upload(stocked_client, data, {"availability": "out_of_stock, preorder", "k": 10}).json()
    assert sorted(m["sku"] for m in both["matches"]) == sorted([OUT_OF_STOCK_SKU, PREORDER_SKU])
    assert_lists_equal_brute_force(
        stocked_service, both, query, 10, lambda r: r.availability in ("out_of_stock", "preorder")
    )
    refused = upload(stocked_client, data, {"availability": "in_stock,sold"})
    assert "unknown availability 'sold'" in assert_error(refused, 422, "invalid_parameter")


@pytest.mark.parametrize("k", [1, 3, 5])
def test_pages_of_matches_follow_on_without_gaps_or_repeats(
    client: TestClient, sample_service: SearchService, k: int
) -> None:
    data = photo_png()
    first_page = upload(client, data, {"k": k}).json()
    pages: list[str] = []
    for offset in range(0, PRODUCTS + k, k):
        body = upload(client, data, {"k": k, "offset": offset}).json()
        assert body["tiers"] == first_page["tiers"]  # tier lists are not paged
        pages += [m["sku"] for m in body["matches"]]
    everything = brute_force(sample_service, image_query(sample_service, data), PRODUCTS, lambda *_: True)
    assert pages == [sku for sku, _ in everything]


def test_an_offset_out_of_range_is_refused(client: TestClient) -> None:
    assert_error(upload(client, photo_png(), {"offset": -1}), 422, "invalid_parameter")
    message = assert_error(upload(client, photo_png(), {"offset": 1001}), 422, "invalid_parameter")
    assert "offset must be from 0 to 1000" in message
