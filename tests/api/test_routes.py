"""The routes (api/routes.py): search by photo and by text, products and their similar products, and
health, each checked against the full response contract and against exhaustive search."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from snapbuy.search import SearchOptions, SearchService
from tests.api.helpers import (
    CATEGORIES,
    MAX_K,
    PRODUCTS,
    assert_error,
    assert_item,
    assert_matches_brute_force,
    assert_search_response,
    assert_sorted,
    assert_still_serving,
    image_query,
    photo_png,
    text_query,
    upload,
)
from tests.conftest import OUT_OF_STOCK_SKU, PREORDER_SKU


def image_options() -> SearchOptions:
    """What a photo upload without parameters searches with (Settings' defaults)."""
    return SearchOptions(k=4)


# --- search: shapes and semantics --------------------------------------------------------------


def test_image_search_contract(client: TestClient, sample_service: SearchService) -> None:
    data = photo_png()
    response = upload(client, data)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_search_response(body, k=4, source="predicted")  # k defaults to 4
    assert body["model"] == sample_service.embedder.identity.spec
    assert body["index_version"] == sample_service.bundle.manifest.version
    assert {"decode", "embed", "search", "total"} <= set(body["timings_ms"])
    assert_matches_brute_force(sample_service, body, image_query(sample_service, data), 4)
    assert body["query"]["box_source"] in ("crop grid", "photo")  # the sample model has no localiser


def test_a_clients_box_decides_where_search_looks(client: TestClient, sample_service: SearchService) -> None:
    data = photo_png()  # 96 x 64
    response = upload(client, data, {"box": "0.25,0.5,0.75,1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"]["box"] == {"x0": 0.25, "y0": 0.5, "x1": 0.75, "y1": 1.0}
    assert body["query"]["box_source"] == "client"
    image = Image.open(io.BytesIO(data)).convert("RGB")
    query = sample_service.encoder.encode_image(image, box=(24, 32, 72, 64))[0]
    assert_matches_brute_force(sample_service, body, query, 4)


@pytest.mark.parametrize("box", ["0.5,0.5,0.2,0.9", "1,2,3", "0,0,1,1.5", "x" * 201])
def test_a_bad_box_is_refused_with_its_reason(client: TestClient, box: str) -> None:
    assert_error(upload(client, photo_png(), {"box": box}), 422, "invalid_parameter")


def test_words_with_a_photo_are_read_and_reported(client: TestClient, sample_service: SearchService) -> None:
    data = photo_png()
    alone = upload(client, data).json()
    assert alone["query"]["words"] is None
    response = upload(client, data, {"q": "in red under 5000", "text_weight": "0.4"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"]["words"] == {
        "text": "in red",
        "text_weight": 0.4,
        "price_phrases": ["under 5000"],
        "min_price": None,
        "max_price": 5000.0,
    }
    items = [*body["matches"], *(i for t in body["tiers"] for i in t["items"])]
    assert all(i["price_paid"] <= 5000 for i in items)
    image = Image.open(io.BytesIO(data)).convert("RGB")
    direct = sample_service.search_image(image, image_options(), words="in red under 5000", text_weight=0.4)
    assert [i["sku"] for i in body["matches"]] == [i.sku for i in direct.matches]
    default = upload(client, data, {"q": "in red"}).json()["query"]["words"]
    assert default["text_weight"] == 0.2  # Settings.text_weight


@pytest.mark.parametrize("params", [{"q": "red", "text_weight": "1.5"}, {"q": ""}, {"q": "x" * 501}])
def test_bad_words_are_refused(client: TestClient, params: dict[str, str]) -> None:
    assert upload(client, photo_png(), params).status_code == 422


def test_text_search_reads_prices_and_refuses_relative_words(client: TestClient) -> None:
    body = client.get("/v1/search", params={"q": "watch under 3000"}).json()
    assert body["query"]["words"]["text"] == "watch" and body["query"]["words"]["max_price"] == 3000
    assert_error(client.get("/v1/search", params={"q": "cheaper watch"}), 422, "invalid_parameter")


def test_a_photo_answer_lists_its_product_groups(client: TestClient) -> None:
    body = upload(client, photo_png(), {"max_products": "3"}).json()
    # The sample model has no localiser, so the photo holds one product: the top-level answer.
    assert len(body["groups"]) == 1
    group = body["groups"][0]
    assert group["box"] == body["query"]["box"] and group["box_source"] == body["query"]["box_source"]
    assert group["score"] is None  # the crop grid gives no confidence
    assert (group["category"], group["category_source"]) == (
        body["query"]["category"],
        body["query"]["category_source"],
    )
    assert group["matches"] == body["matches"] and group["tiers"] == body["tiers"]
    assert client.get("/v1/search", params={"q": "watch"}).json()["groups"] == []
    for bad in ("0", "6"):
        assert_error(upload(client, photo_png(), {"max_products": bad}), 422, "invalid_parameter")


def test_text_search_has_no_box(client: TestClient) -> None:
    body = client.get("/v1/search", params={"q": "watch"}).json()
    assert body["query"]["box"] is None and body["query"]["box_source"] is None


def test_text_search_contract(client: TestClient, sample_service: SearchService) -> None:
    response = client.get("/v1/search", params={"q": "red leather watch"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert_search_response(body, k=4, source="predicted")
    assert body["model"] == sample_service.embedder.identity.spec
    query = text_query(sample_service, "red leather watch")
    assert_matches_brute_force(sample_service, body, query, 4)


@pytest.mark.parametrize("k", [1, 3, 7, PRODUCTS, MAX_K])
def test_k_is_respected(client: TestClient, sample_service: SearchService, k: int) -> None:
    data = photo_png()
    image_body = upload(client, data, {"k": k}).json()
    assert_search_response(image_body, k=k, source="predicted")
    assert_matches_brute_force(sample_service, image_body, image_query(sample_service, data), k)
    # Each tier of the sample catalog holds two products per category; both colours of a design
    # share a tier or not, so collapsed a tier holds one or two designs.
    assert all(1 <= len(t["items"]) <= min(k, 2) for t in image_body["tiers"])
    flat = upload(client, data, {"k": k, "collapse": "false"}).json()
    assert_search_response(flat, k=k, source="predicted", collapse=False)
    assert_matches_brute_force(sample_service, flat, image_query(sample_service, data), k, collapse=False)
    assert all(len(t["items"]) == min(k, 2) for t in flat["tiers"])

    text_body = client.get("/v1/search", params={"q": "blue mug", "k": k}).json()
    assert_search_response(text_body, k=k, source="predicted")
    assert_matches_brute_force(sample_service, text_body, text_query(sample_service, "blue mug"), k)


@pytest.mark.parametrize("category", CATEGORIES)
def test_explicit_category_restricts_matches(
    client: TestClient, sample_service: SearchService, category: str
) -> None:
    data = photo_png()
    body = upload(client, data, {"category": category, "k": 10}).json()
    assert_search_response(body, k=10, source="request", category=category)
    assert len(body["matches"]) == 3  # the category's three designs, nothing from others
    query = image_query(sample_service, data)
    assert_matches_brute_force(sample_service, body, query, 10, category=category)
    flat = upload(client, data, {"category": category, "k": 10, "collapse": "false"}).json()
    assert len(flat["matches"]) == 6  # the whole category, each colour on its own
    assert_matches_brute_force(sample_service, flat, query, 10, category=category, collapse=False)

    text = client.get("/v1/search", params={"q": "something", "category": category, "k": 3}).json()
    assert_search_response(text, k=3, source="request", category=category)


@pytest.mark.parametrize(
    ("min_price", "max_price"),
    [(400.0, 1600.0), (None, 200.0), (2000.0, None), (450.0, 450.0), (5000.0, None)],
)
def test_price_filters(
    client: TestClient, sample_service: SearchService, min_price: float | None, max_price: float | None
) -> None:
    params: dict[str, Any] = {"k": 10}
    if min_price is not None:
        params["min_price"] = min_price
    if max_price is not None:
        params["max_price"] = max_price
    data = photo_png()
    body = upload(client, data, params).json()
    assert_search_response(body, k=10, source="predicted", min_price=min_price, max_price=max_price)
    query = image_query(sample_service, data)
    assert_matches_brute_force(sample_service, body, query, 10, min_price=min_price, max_price=max_price)
    if (min_price, max_price) == (450.0, 450.0):  # both bounds inclusive: exactly SNE-1-BLACK
        assert [m["sku"] for m in body["matches"]] == ["SNE-1-BLACK"]
    if min_price == 5000.0:  # nothing that dear: empty lists, not an error
        assert body["matches"] == [] and all(t["items"] == [] for t in body["tiers"])

    # Filters and category combine on the text endpoint too.
    text = client.get("/v1/search", params={**params, "q": "watch", "category": "watch"}).json()
    assert_search_response(
        text, k=10, source="request", category="watch", min_price=min_price, max_price=max_price
    )


# --- products ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/products/NO-SUCH-SKU", "/v1/products/NO-SUCH-SKU/similar"])
def test_unknown_product_is_404(client: TestClient, path: str, sample_service: SearchService) -> None:
    message = assert_error(client.get(path), 404, "not_found")
    assert "NO-SUCH-SKU" in message
    assert str(sample_service.bundle.path.parent) not in message and "/" not in message  # no server path
    assert_still_serving(client)


def test_similar_leaves_the_product_out(client: TestClient, sample_service: SearchService) -> None:
    everything: dict[str, Any] = {"q": "x", "k": PRODUCTS, "collapse": "false"}
    skus = [m["sku"] for m in client.get("/v1/search", params=everything).json()["matches"]]
    assert len(skus) == PRODUCTS
    for sku in skus:
        product = client.get(f"/v1/products/{sku}").json()
        response = client.get(f"/v1/products/{sku}/similar", params={"k": 3})
        assert response.status_code == 200, response.text
        body = response.json()
        assert_search_response(body, k=3, source="product", category=product["category"], excluded=sku)
        assert len(body["matches"]) == 3
        assert_sorted(body["matches"])
        record = sample_service.product(sku)
        query = sample_service.catalog.first_vector_of(record)
        assert_matches_brute_force(sample_service, body, query, 3, category=product["category"], excluded=sku)


def test_similar_default_k_and_filters(client: TestClient) -> None:
    body = client.get("/v1/products/SNE-2-BLUE/similar").json()
    assert_search_response(body, k=4, source="product", category="sneaker", excluded="SNE-2-BLUE")
    assert len(body["matches"]) == 3  # the three sneaker designs: its own other colour among them
    assert "SNE-2-GREEN" in {m["sku"] for m in body["matches"]}
    flat = client.get("/v1/products/SNE-2-BLUE/similar", params={"collapse": "false"}).json()
    assert_search_response(
        flat, k=4, source="product", category="sneaker", excluded="SNE-2-BLUE", collapse=False
    )
    assert len(flat["matches"]) == 4

    params: dict[str, Any] = {"max_price": 1045, "collapse": "false"}
    filtered = client.get("/v1/products/SNE-2-BLUE/similar", params=params).json()
    assert_search_response(
        filtered,
        k=4,
        source="product",
        category="sneaker",
        max_price=1045,
        excluded="SNE-2-BLUE",
        collapse=False,
    )
    assert sorted(m["sku"] for m in filtered["matches"]) == ["SNE-1-BLACK", "SNE-1-RED"]
    # Collapsed, the two colours are one design: the better match, listing the other as a variant.
    [design] = client.get("/v1/products/SNE-2-BLUE/similar", params={"max_price": 1045}).json()["matches"]
    assert sorted([design["sku"], *(v["sku"] for v in design["variants"])]) == ["SNE-1-BLACK", "SNE-1-RED"]
    assert_error(client.get("/v1/products/SNE-2-BLUE/similar", params={"k": 0}), 422, "invalid_parameter")


# --- stock and sales -------------------------------------------------------------------------------

WATCHES = 6
ROUTES_WITH_OPTIONS = ["image", "text", "similar"]  # every route that takes search options


def search_watches(client: TestClient, route: str, extra: dict[str, Any]) -> Any:
    """Ask `route` for every watch, each colour on its own, with the extra query parameters."""
    extra = {"collapse": "false", **extra}
    params = {"category": "watch", "k": WATCHES, **extra}
    if route == "image":
        return upload(client, photo_png(), params)
    if route == "text":
        return client.get("/v1/search", params={"q": "watch", **params})
    return client.get("/v1/products/WAT-1-RED/similar", params={"k": WATCHES, **extra})


def listed(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [*body["matches"], *(item for tier in body["tiers"] for item in tier["items"])]


@pytest.mark.parametrize("route", ROUTES_WITH_OPTIONS)
def test_out_of_stock_products_only_when_asked_for(stocked_client: TestClient, route: str) -> None:
    def search(client: TestClient, extra: dict[str, Any]) -> Any:
        return search_watches(client, route, extra)

    others = WATCHES - (route == "similar")  # similar leaves WAT-1-RED itself out

    hidden = search(stocked_client, {})
    assert hidden.status_code == 200, hidden.text
    body = hidden.json()
    for item in listed(body):
        assert_item(item)
    assert OUT_OF_STOCK_SKU not in {item["sku"] for item in listed(body)}
    assert len(body["matches"]) == others - 1
    assert PREORDER_SKU in {m["sku"] for m in body["matches"]}  # a preorder can be ordered: shown

    for value in ("true", "1"):
        shown = search(stocked_client, {"include_out_of_stock": value}).json()
        assert len(shown["matches"]) == others
        out = next(m for m in shown["matches"] if m["sku"] == OUT_OF_STOCK_SKU)
        assert out["availability"] == "out_of_stock"
        assert out in next(t["items"] for t in shown["tiers"] if t["name"] == out["tier"])
    assert len(search(stocked_client, {"include_out_of_stock": "false"}).json()["matches"]) == others - 1
    assert_error(search(stocked_client, {"include_out_of_stock": "maybe"}), 422, "invalid_parameter")


def test_items_carry_the_sale_and_the_price_paid(stocked_client: TestClient) -> None:
    item = stocked_client.get("/v1/products/WAT-2-BLUE").json()
    assert_item(item, scored=False)
    assert (item["price"], item["sale_price"], item["price_paid"]) == (1540.0, 599.0, 599.0)
    assert item["sale_price_effective_date"] == "2020-01-01T00:00:00+00:00/2099-01-01T00:00:00+00:00"
    assert item["tier"] == "budget"  # tiers go by the price paid: at 1540.00 it would be mid
    assert (item["link"], item["image_link"]) == (
        "https://shop.example/p/wat-2-blue",
        "images/wat-2-blue.jpg",
    )

    # max_price bounds the price paid: the sale makes it the only watch under 600.
    body = stocked_client.get(
        "/v1/search", params={"q": "watch", "category": "watch", "max_price": 600}
    ).json()
    assert [m["sku"] for m in body["matches"]] == ["WAT-2-BLUE"]
    assert body["matches"][0]["price_paid"] == 599.0


# --- health ----------------------------------------------------------------------------------------


def test_livez_and_readyz_when_ready(client: TestClient) -> None:
    live = client.get("/livez")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
