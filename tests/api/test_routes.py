"""HTTP API contract: response shapes, search semantics, errors, limits, readiness and privacy.

Every app is built with an explicit Settings and driven through TestClient as a context manager,
so the lifespan runs. The search service is the session-wide sample index with the tiny model."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import math
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from starlette.requests import Request
from starlette.types import Message

from snapbuy.api import create_app
from snapbuy.api.upload import MULTIPART_OVERHEAD, read_image_upload
from snapbuy.config import Settings
from snapbuy.errors import ImageTooLargeError
from snapbuy.imaging import decode_image
from snapbuy.search import SearchService

if TYPE_CHECKING:
    # The response class TestClient returns (starlette's test client is built on httpx2).
    from httpx2 import Response

MB = 1024 * 1024
MAX_UPLOAD = 10 * MB
MAX_PIXELS = 40_000_000
MAX_K = 50
PRODUCTS = 24  # rows in tests/data/sample-catalog/catalog.csv
CATEGORIES = ["backpack", "mug", "sneaker", "watch"]
TIER_NAMES = ["budget", "mid", "premium"]

ITEM_KEYS = {"sku", "title", "brand", "category", "price", "currency", "tier", "item_group_id", "score"}
RESPONSE_KEYS = {"query", "matches", "tiers", "model", "index_version", "timings_ms"}
TIER_KEYS = {"name", "min_price", "max_price", "items"}
ORIENTATION = 274  # EXIF tag
ROTATE_90_CW = 6  # EXIF value: stored pixels must be turned 90 degrees clockwise to be upright


# --- fixtures ------------------------------------------------------------------------------------


def make_settings(index: Path, **overrides: Any) -> Settings:
    """Settings with every limit spelled out, so SNAPBUY_* variables in the environment can't leak in."""
    values: dict[str, Any] = {
        "index": index,
        "models_dir": index.parent / "models",
        "allow_download": False,
        "device": "cpu",
        "max_upload_bytes": MAX_UPLOAD,
        "max_image_pixels": MAX_PIXELS,
        "default_k": 4,
        "max_k": MAX_K,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def settings(sample_index: Path) -> Settings:
    return make_settings(sample_index)


@pytest.fixture(scope="module")
def client(settings: Settings, sample_service: SearchService) -> Iterator[TestClient]:
    with TestClient(create_app(settings, sample_service)) as test_client:
        yield test_client


# --- helpers -------------------------------------------------------------------------------------


def asymmetric_image(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """Landscape picture with distinct shapes in distinct corners: any rotation or flip changes it."""
    img = Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.rectangle((0, 0, w // 3, h // 4), fill=(220, 20, 20))
    draw.ellipse((w // 2, h // 2, w - 1, h - 1), fill=(20, 40, 220))
    draw.polygon([(0, h - 1), (w // 4, h // 2), (w // 3, h - 1)], fill=(20, 180, 40))
    draw.line((w // 2, 0, w - 1, h // 3), fill=(0, 0, 0), width=5)
    return img


def encode(img: Image.Image, fmt: str = "PNG", **save_kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()


def photo_png() -> bytes:
    return encode(asymmetric_image())


def upload(
    client: TestClient,
    data: bytes,
    params: dict[str, Any] | None = None,
    *,
    filename: str = "photo.png",
    content_type: str = "image/png",
) -> Response:
    return client.post("/v1/search", params=params, files={"image": (filename, data, content_type)})


def assert_error(response: Response, status: int, code: str) -> str:
    """The response is the JSON error envelope with this status and code; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    return message


def assert_item(item: dict[str, Any], *, scored: bool = True) -> None:
    assert set(item) == ITEM_KEYS
    assert isinstance(item["sku"], str) and item["sku"]
    assert isinstance(item["title"], str) and item["title"]
    assert item["category"] in CATEGORIES
    assert isinstance(item["price"], float) and item["price"] >= 0
    assert item["currency"] == "NOK"
    assert item["tier"] in TIER_NAMES
    if scored:
        assert isinstance(item["score"], float) and -1.0 - 1e-5 <= item["score"] <= 1.0 + 1e-5
    else:
        assert item["score"] is None


def assert_sorted(items: list[dict[str, Any]]) -> None:
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)


def in_price_range(price: float, low: float | None, high: float | None, *, high_inclusive: bool) -> bool:
    if low is not None and price < low:
        return False
    if high is None:
        return True
    return price <= high if high_inclusive else price < high


def assert_search_response(
    body: dict[str, Any],
    *,
    k: int,
    source: str,
    category: str | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    excluded: str | None = None,
) -> None:
    """The full search contract: shapes, k, score order, tier membership, filters, exclusions."""
    assert set(body) == RESPONSE_KEYS
    assert set(body["query"]) == {"category", "category_source"}
    assert body["query"]["category_source"] == source
    query_category = body["query"]["category"]
    assert query_category in CATEGORIES
    if category is not None:
        assert query_category == category
    assert isinstance(body["model"], str) and body["model"]
    assert isinstance(body["index_version"], str) and body["index_version"]
    assert body["timings_ms"] and all(v >= 0 for v in body["timings_ms"].values())

    matches = body["matches"]
    assert len(matches) <= k
    if min_price is None and max_price is None and excluded is None:
        # No explicit filter: the whole index (or the whole requested category) is searched.
        assert len(matches) == min(k, 6 if category else PRODUCTS)
    for item in matches:
        assert_item(item)
        assert in_price_range(item["price"], min_price, max_price, high_inclusive=True)
        if category is not None:
            assert item["category"] == category
    assert_sorted(matches)
    assert len({m["sku"] for m in matches}) == len(matches)

    assert [t["name"] for t in body["tiers"]] == TIER_NAMES
    previous_max: float | None = None
    for index, tier in enumerate(body["tiers"]):
        assert set(tier) == TIER_KEYS
        # Tiers are consecutive half-open ranges covering all prices.
        assert (tier["min_price"] is None) == (index == 0)
        assert (tier["max_price"] is None) == (index == len(TIER_NAMES) - 1)
        if index > 0:
            assert tier["min_price"] == previous_max
        previous_max = tier["max_price"]
        assert len(tier["items"]) <= k
        for item in tier["items"]:
            assert_item(item)
            assert item["category"] == query_category
            assert item["tier"] == tier["name"]
            assert in_price_range(item["price"], tier["min_price"], tier["max_price"], high_inclusive=False)
            assert in_price_range(item["price"], min_price, max_price, high_inclusive=True)
        assert_sorted(tier["items"])

    if excluded is not None:
        listed = [m["sku"] for m in matches] + [i["sku"] for t in body["tiers"] for i in t["items"]]
        assert excluded not in listed


def brute_force(
    service: SearchService,
    query: np.ndarray,
    k: int,
    keep: Callable[[str, str, float], bool],
) -> list[tuple[str, float]]:
    """Reference top-k by exhaustive scoring: each product scores its best vector.
    `keep(sku, category, price)` selects the subset searched."""
    count = service.index.ntotal
    vectors = service.index.reconstruct(list(range(count)))
    scores = vectors @ np.asarray(query, dtype=np.float32)
    owners = [int(row) for row in service.columns.vector_product]
    records = service.store.products_by_rows(sorted(set(owners)))
    best: dict[str, float] = {}
    for vector_id, row in enumerate(owners):
        record = records[row]
        if keep(record.sku, record.category, record.price):
            best[record.sku] = max(best.get(record.sku, -math.inf), float(scores[vector_id]))
    return sorted(best.items(), key=lambda kv: -kv[1])[:k]


def assert_same_ranking(items: list[dict[str, Any]], expected: list[tuple[str, float]]) -> None:
    assert [item["sku"] for item in items] == [sku for sku, _ in expected]
    for item, (_, score) in zip(items, expected, strict=True):
        assert item["score"] == pytest.approx(score, abs=1e-5)


def assert_matches_brute_force(
    service: SearchService,
    body: dict[str, Any],
    query: np.ndarray,
    k: int,
    *,
    min_price: float | None = None,
    max_price: float | None = None,
    category: str | None = None,
    excluded: str | None = None,
) -> None:
    """Matches and every tier list equal exhaustive search over the same subset, score for score."""

    def explicit(sku: str, cat: str, price: float) -> bool:
        return (
            sku != excluded
            and (category is None or cat == category)
            and in_price_range(price, min_price, max_price, high_inclusive=True)
        )

    assert_same_ranking(body["matches"], brute_force(service, query, k, explicit))
    query_category = body["query"]["category"]
    for tier in body["tiers"]:
        low, high = tier["min_price"], tier["max_price"]

        def in_tier(sku: str, cat: str, price: float, low: Any = low, high: Any = high) -> bool:
            return (
                explicit(sku, cat, price)
                and cat == query_category
                and in_price_range(price, low, high, high_inclusive=False)
            )

        assert_same_ranking(tier["items"], brute_force(service, query, k, in_tier))


def image_query(service: SearchService, data: bytes) -> np.ndarray:
    image = decode_image(data, max_bytes=MAX_UPLOAD, max_pixels=MAX_PIXELS)
    return service.embed_image(image)


def text_query(service: SearchService, text: str) -> np.ndarray:
    vector: np.ndarray = service.embedder.embed_texts([text])[0]
    return vector


def scores_by_sku(body: dict[str, Any]) -> dict[str, float]:
    return {item["sku"]: item["score"] for item in body["matches"]}


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the background load"
        time.sleep(0.02)


def assert_still_serving(client: TestClient) -> None:
    response = upload(client, photo_png(), {"k": 2})
    assert response.status_code == 200, response.text
    assert len(response.json()["matches"]) == 2


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
    # Each tier of the sample catalog holds two products per category.
    assert all(len(t["items"]) == min(k, 2) for t in image_body["tiers"])

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
    assert len(body["matches"]) == 6  # the whole category, nothing from others
    query = image_query(sample_service, data)
    assert_matches_brute_force(sample_service, body, query, 10, category=category)

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


def test_get_product(client: TestClient) -> None:
    response = client.get("/v1/products/WAT-1-RED")
    assert response.status_code == 200, response.text
    item = response.json()
    assert_item(item, scored=False)
    assert item == {
        "sku": "WAT-1-RED",
        "title": "Basico red watch",
        "brand": "Basico",
        "category": "watch",
        "price": 630.0,
        "currency": "NOK",
        "tier": "budget",
        "item_group_id": "WAT-1",
        "score": None,
    }


@pytest.mark.parametrize("path", ["/v1/products/NO-SUCH-SKU", "/v1/products/NO-SUCH-SKU/similar"])
def test_unknown_product_is_404(client: TestClient, path: str) -> None:
    assert "NO-SUCH-SKU" in assert_error(client.get(path), 404, "not_found")
    assert_still_serving(client)


def test_similar_leaves_the_product_out(client: TestClient, sample_service: SearchService) -> None:
    skus = [m["sku"] for m in client.get("/v1/search", params={"q": "x", "k": PRODUCTS}).json()["matches"]]
    assert len(skus) == PRODUCTS
    for sku in skus:
        product = client.get(f"/v1/products/{sku}").json()
        response = client.get(f"/v1/products/{sku}/similar", params={"k": 3})
        assert response.status_code == 200, response.text
        body = response.json()
        assert_search_response(body, k=3, source="product", category=product["category"], excluded=sku)
        assert len(body["matches"]) == 3
        assert_sorted(body["matches"])
        record = sample_service.product_record(sku)
        query = sample_service.index.reconstruct(sample_service.store.vector_ids_of(record.row)[:1])[0]
        assert_matches_brute_force(sample_service, body, query, 3, category=product["category"], excluded=sku)


def test_similar_default_k_and_filters(client: TestClient) -> None:
    body = client.get("/v1/products/SNE-2-BLUE/similar").json()
    assert_search_response(body, k=4, source="product", category="sneaker", excluded="SNE-2-BLUE")
    assert len(body["matches"]) == 4

    filtered = client.get("/v1/products/SNE-2-BLUE/similar", params={"max_price": 1045}).json()
    assert_search_response(
        filtered, k=4, source="product", category="sneaker", max_price=1045, excluded="SNE-2-BLUE"
    )
    assert sorted(m["sku"] for m in filtered["matches"]) == ["SNE-1-BLACK", "SNE-1-RED"]
    assert_error(client.get("/v1/products/SNE-2-BLUE/similar", params={"k": 0}), 422, "invalid_parameter")


# --- health, readiness, index summary, OpenAPI ---------------------------------------------------


def test_livez_and_readyz_when_ready(client: TestClient) -> None:
    live = client.get("/livez")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_index_summary(client: TestClient, sample_service: SearchService) -> None:
    response = client.get("/v1/index")
    assert response.status_code == 200, response.text
    body = response.json()
    manifest = sample_service.bundle.manifest
    assert body["version"] == manifest.version
    assert body["model"]["spec"] == sample_service.embedder.identity.spec
    assert body["model"]["random_weights"] is True
    assert body["embedding_dim"] == sample_service.embedder.dim
    assert body["counts"]["products"] == PRODUCTS
    assert body["counts"]["vectors"] == PRODUCTS
    assert body["currency"] == "NOK"
    assert body["categories"] == CATEGORIES
    bounds = body["tiers"]["bounds"]
    assert sorted(bounds) == CATEGORIES
    for tiers in bounds.values():
        assert [t["name"] for t in tiers] == TIER_NAMES
    # The tier bounds in search responses are the ones the index summary publishes.
    search = client.get("/v1/search", params={"q": "mug", "category": "mug"}).json()
    assert [(t["name"], t["min_price"], t["max_price"]) for t in search["tiers"]] == [
        (t["name"], t["min_price"], t["max_price"]) for t in bounds["mug"]
    ]


def test_not_ready_while_index_cannot_load(tmp_path: Path) -> None:
    empty = tmp_path / "empty-index"
    empty.mkdir()
    app = create_app(make_settings(empty))
    with TestClient(app) as client:
        assert client.get("/livez").status_code == 200

        def load_failed() -> bool:
            body: dict[str, Any] = client.get("/readyz").json()
            return body.get("detail") != "loading model and index"

        wait_for(load_failed)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert str(empty) in ready.json()["detail"]

        requests: list[Callable[[], Response]] = [
            lambda: upload(client, photo_png()),
            lambda: client.get("/v1/search", params={"q": "watch"}),
            lambda: client.get("/v1/products/WAT-1-RED"),
            lambda: client.get("/v1/products/WAT-1-RED/similar"),
            lambda: client.get("/v1/index"),
        ]
        for send in requests:
            assert str(empty) in assert_error(send(), 503, "not_ready")
        assert client.get("/livez").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_background_load_becomes_ready(sample_index: Path, tmp_path: Path) -> None:
    """Without an injected service the lifespan loads model and index (off the event loop)."""
    app = create_app(make_settings(sample_index, models_dir=tmp_path / "models"))
    with TestClient(app) as client:
        assert client.get("/livez").status_code == 200
        wait_for(lambda: client.get("/readyz").status_code != 503 or app.state.load_error is not None)
        assert app.state.load_error is None
        assert client.get("/readyz").json() == {"status": "ready", "detail": None}
        body = client.get("/v1/search", params={"q": "green sneaker", "k": 2}).json()
        assert_search_response(body, k=2, source="predicted")
        assert upload(client, photo_png()).status_code == 200
    assert app.state.service is None  # the app closed what it loaded


def test_injected_service_is_not_closed(settings: Settings, sample_service: SearchService) -> None:
    """The caller owns an injected service: stopping the app must leave it usable."""
    with TestClient(create_app(settings, sample_service)) as client:
        assert client.get("/v1/products/MUG-1-RED").status_code == 200
    assert sample_service.product("MUG-1-RED").sku == "MUG-1-RED"


def test_openapi_lists_routes(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/v1/search": {"get", "post"},
        "/v1/products/{sku}": {"get"},
        "/v1/products/{sku}/similar": {"get"},
        "/v1/index": {"get"},
        "/livez": {"get"},
        "/readyz": {"get"},
    }
    assert expected.keys() <= paths.keys()
    for path, methods in expected.items():
        assert methods <= paths[path].keys()
    post = paths["/v1/search"]["post"]
    assert {"413", "415", "422", "503"} <= post["responses"].keys()
    assert {p["name"] for p in post["parameters"]} >= {"k", "category", "min_price", "max_price"}


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.delete("/v1/search"), 405, "method_not_allowed")


# --- upload limits -------------------------------------------------------------------------------


def test_default_limits() -> None:
    fields = Settings.model_fields
    assert fields["max_upload_bytes"].default == MAX_UPLOAD
    assert fields["default_k"].default == 4


def test_oversized_upload_is_413(client: TestClient) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(15 * MB)
    response = upload(client, data)
    assert int(response.request.headers["content-length"]) > 15 * MB
    assert "10.0 MB" in assert_error(response, 413, "payload_too_large")
    assert_still_serving(client)


def test_chunked_upload_without_length_is_413(client: TestClient) -> None:
    boundary = "snapbuy-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head + b"\x89PNG\r\n\x1a\n"
        for _ in range(15):
            yield bytes(MB)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/v1/search",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, "payload_too_large")
    assert_still_serving(client)


def test_upload_exactly_at_the_limit(sample_index: Path, sample_service: SearchService) -> None:
    """The limit is on the image bytes: exactly max_upload_bytes is accepted, one more is refused."""
    limit = 200_000
    image = photo_png()
    padded = image + bytes(limit - len(image))  # PNG decoders stop at IEND
    with TestClient(
        create_app(make_settings(sample_index, max_upload_bytes=limit), sample_service)
    ) as client:
        assert upload(client, padded).status_code == 200
        assert_error(upload(client, padded + b"\0"), 413, "payload_too_large")
        assert upload(client, image).status_code == 200


def fake_request(headers: dict[str, str], chunks: Iterator[bytes]) -> tuple[Request, list[int]]:
    """A real Starlette Request over a scripted ASGI receive; records the size of each chunk read."""
    consumed: list[int] = []

    async def receive() -> Message:
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": True}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/search",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive), consumed


MULTIPART = {"content-type": "multipart/form-data; boundary=B"}


def part_head(name: str) -> bytes:
    return f'--B\r\nContent-Disposition: form-data; name="{name}"; filename="x"\r\n\r\n'.encode()


@pytest.mark.parametrize("field", ["image", "other"])
def test_endless_stream_stops_at_the_limit(field: str) -> None:
    """No Content-Length and a body that never ends: reading stops just past the limit."""
    limit = 256 * 1024
    chunk = 64 * 1024
    chunks = itertools.chain([part_head(field)], itertools.repeat(bytes(chunk)))
    request, consumed = fake_request(MULTIPART, chunks)
    with pytest.raises(ImageTooLargeError):
        asyncio.run(read_image_upload(request, limit))
    assert sum(consumed) <= limit + MULTIPART_OVERHEAD + chunk


def test_declared_length_is_refused_before_reading() -> None:
    def never() -> Iterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""  # pragma: no cover

    request, consumed = fake_request({**MULTIPART, "content-length": str(15 * MB)}, never())
    with pytest.raises(ImageTooLargeError):
        asyncio.run(read_image_upload(request, MAX_UPLOAD))
    assert consumed == []


def test_upload_reader_returns_the_image_part() -> None:
    data = photo_png()
    body = part_head("note") + b"hello\r\n" + part_head("image") + data + b"\r\n--B--\r\n"
    request, _ = fake_request(MULTIPART, iter([body[:100], body[100:1000], body[1000:]]))
    assert asyncio.run(read_image_upload(request, MAX_UPLOAD)) == data


# --- bad requests --------------------------------------------------------------------------------


def truncated_jpeg() -> bytes:
    data = encode(asymmetric_image((256, 256)), "JPEG", quality=90)
    return data[: len(data) // 2]


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of zeros: 400 megapixels in under 50 KB. Written by hand because Pillow
    takes seconds to encode it."""
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    data = (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )
    assert len(data) < 64 * 1024
    return data


BadRequest = Callable[[TestClient], "Response"]
BAD_REQUESTS: list[tuple[str, BadRequest, int, str]] = [
    ("k=0", lambda c: upload(c, photo_png(), {"k": 0}), 422, "invalid_parameter"),
    ("k>max_k", lambda c: upload(c, photo_png(), {"k": MAX_K + 1}), 422, "invalid_parameter"),
    ("k-not-int", lambda c: upload(c, photo_png(), {"k": "four"}), 422, "invalid_parameter"),
    ("min>max", lambda c: upload(c, photo_png(), {"min_price": 9, "max_price": 3}), 422, "invalid_parameter"),
    (
        "unknown-category",
        lambda c: upload(c, photo_png(), {"category": "spaceship"}),
        422,
        "invalid_parameter",
    ),
    ("empty-category", lambda c: upload(c, photo_png(), {"category": ""}), 422, "invalid_parameter"),
    ("negative-min", lambda c: upload(c, photo_png(), {"min_price": -1}), 422, "invalid_parameter"),
    ("negative-max", lambda c: upload(c, photo_png(), {"max_price": -0.01}), 422, "invalid_parameter"),
    ("nan-price", lambda c: upload(c, photo_png(), {"min_price": "nan"}), 422, "invalid_parameter"),
    (
        "missing-image-field",
        lambda c: c.post("/v1/search", files={"photo": ("photo.png", photo_png(), "image/png")}),
        422,
        "invalid_parameter",
    ),
    (
        "truncated-jpeg",
        lambda c: upload(c, truncated_jpeg(), content_type="image/jpeg"),
        422,
        "corrupt_image",
    ),
    (
        "text-named-jpg",
        lambda c: upload(c, b"just some notes\n" * 20, filename="photo.jpg", content_type="image/jpeg"),
        415,
        "unsupported_media_type",
    ),
    (
        "random-bytes",
        lambda c: upload(c, np.random.default_rng(7).bytes(4096), content_type="image/jpeg"),
        415,
        "unsupported_media_type",
    ),
    ("empty-image", lambda c: upload(c, b""), 415, "unsupported_media_type"),
    ("gif", lambda c: upload(c, encode(asymmetric_image(), "GIF")), 415, "unsupported_media_type"),
    (
        "not-multipart-raw",
        lambda c: c.post("/v1/search", content=photo_png(), headers={"content-type": "image/png"}),
        415,
        "unsupported_media_type",
    ),
    (
        "not-multipart-form",
        lambda c: c.post("/v1/search", data={"image": "x"}),
        415,
        "unsupported_media_type",
    ),
    (
        "multipart-without-boundary",
        lambda c: c.post("/v1/search", content=b"x", headers={"content-type": "multipart/form-data"}),
        415,
        "unsupported_media_type",
    ),
    ("bomb", lambda c: upload(c, png_bomb()), 413, "image_too_many_pixels"),
    ("text-k=0", lambda c: c.get("/v1/search", params={"q": "watch", "k": 0}), 422, "invalid_parameter"),
    (
        "text-k>max",
        lambda c: c.get("/v1/search", params={"q": "w", "k": MAX_K + 1}),
        422,
        "invalid_parameter",
    ),
    ("text-missing-q", lambda c: c.get("/v1/search"), 422, "invalid_parameter"),
    ("text-empty-q", lambda c: c.get("/v1/search", params={"q": ""}), 422, "invalid_parameter"),
    ("text-blank-q", lambda c: c.get("/v1/search", params={"q": "   "}), 422, "invalid_parameter"),
    (
        "text-min>max",
        lambda c: c.get("/v1/search", params={"q": "w", "min_price": 5, "max_price": 1}),
        422,
        "invalid_parameter",
    ),
    (
        "text-unknown-category",
        lambda c: c.get("/v1/search", params={"q": "w", "category": "spaceship"}),
        422,
        "invalid_parameter",
    ),
    (
        "similar-unknown-category",
        lambda c: c.get("/v1/products/WAT-1-RED/similar", params={"category": "spaceship"}),
        422,
        "invalid_parameter",
    ),
]


@pytest.mark.parametrize(
    ("send", "status", "code"), [case[1:] for case in BAD_REQUESTS], ids=[case[0] for case in BAD_REQUESTS]
)
def test_bad_request_is_a_json_error_and_server_keeps_serving(
    client: TestClient, send: BadRequest, status: int, code: str
) -> None:
    assert_error(send(client), status, code)
    assert_still_serving(client)


def test_decompression_bomb_is_refused_from_its_header(client: TestClient) -> None:
    message = assert_error(upload(client, png_bomb()), 413, "image_too_many_pixels")
    assert "20000x20000" in message
    # Just under the pixel limit is fine: 6000 x 6000 = 36 megapixels of zeros decodes and searches.
    assert upload(client, png_bomb(6000, 6000)).status_code == 200
    assert_error(upload(client, png_bomb(6400, 6400)), 413, "image_too_many_pixels")


def test_format_is_judged_from_bytes_not_headers(client: TestClient) -> None:
    """A real PNG sent with a misleading filename and content type is accepted."""
    response = upload(client, photo_png(), filename="notes.txt", content_type="text/plain")
    assert response.status_code == 200, response.text
    jpeg = encode(asymmetric_image(), "JPEG")
    assert upload(client, jpeg, filename="photo.png", content_type="image/png").status_code == 200
    webp = encode(asymmetric_image(), "WEBP", lossless=True)
    assert upload(client, webp, filename="photo", content_type="application/octet-stream").status_code == 200


def test_unexpected_error_is_json_500(
    settings: Settings, sample_service: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(sample_service, "search_text", broken)
    with TestClient(create_app(settings, sample_service), raise_server_exceptions=False) as client:
        message = assert_error(client.get("/v1/search", params={"q": "watch"}), 500, "internal_error")
        assert "boom" not in message  # internals stay in the log
        assert client.get("/v1/products/WAT-1-RED").status_code == 200


# --- photo handling ------------------------------------------------------------------------------


def test_exif_orientation_is_applied(client: TestClient) -> None:
    upright = asymmetric_image()
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone held sideways stores it
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATE_90_CW
    tagged = encode(stored, "PNG", exif=exif.tobytes())
    with Image.open(io.BytesIO(tagged)) as check:
        assert check.size == (64, 96)
        assert check.getexif()[ORIENTATION] == ROTATE_90_CW

    params = {"k": PRODUCTS}
    reference = upload(client, encode(upright), params).json()
    turned = upload(client, tagged, params).json()
    untagged = upload(client, encode(stored), params).json()
    assert len(reference["matches"]) == PRODUCTS

    assert [m["sku"] for m in turned["matches"]] == [m["sku"] for m in reference["matches"]]
    for got, want in zip(turned["matches"], reference["matches"], strict=True):
        assert got["score"] == pytest.approx(want["score"], abs=1e-5)
    assert turned["query"] == reference["query"]
    for got_tier, want_tier in zip(turned["tiers"], reference["tiers"], strict=True):
        assert [i["sku"] for i in got_tier["items"]] == [i["sku"] for i in want_tier["items"]]

    # The same comparison catches a missing rotation: the untagged sideways image scores differently.
    want_scores, untagged_scores = scores_by_sku(reference), scores_by_sku(untagged)
    assert want_scores.keys() == untagged_scores.keys()
    assert max(abs(want_scores[sku] - untagged_scores[sku]) for sku in want_scores) > 1e-3


def test_heic_upload_is_accepted(client: TestClient) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    data = encode(asymmetric_image(), "HEIF", quality=90)
    assert data[4:8] == b"ftyp"
    response = upload(client, data, filename="IMG_0001.HEIC", content_type="image/heic")
    assert response.status_code == 200, response.text
    assert_search_response(response.json(), k=4, source="predicted")


def test_uploads_are_never_logged_or_written_to_disk(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    marker = "SNAPBUY-PRIVATE-PHOTO-7f3a9c"
    info = PngInfo()
    info.add_text("Comment", marker)
    private = encode(asymmetric_image(), "PNG", pnginfo=info) + marker.encode()  # text chunk + trailer
    assert private.count(marker.encode()) == 2

    def no_temp_files(*_: object, **__: object) -> None:
        raise AssertionError("an upload must never be written to a temporary file")

    for name in ("SpooledTemporaryFile", "NamedTemporaryFile", "TemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, no_temp_files)
    monkeypatch.setattr("starlette.formparsers.SpooledTemporaryFile", no_temp_files)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    caplog.set_level(logging.DEBUG)

    ok = upload(client, private, {"k": 3})
    assert ok.status_code == 200, ok.text
    assert_error(upload(client, marker.encode() * 50), 415, "unsupported_media_type")
    assert_error(upload(client, private[:200]), 422, "corrupt_image")
    huge = private + bytes(MAX_UPLOAD)
    assert_error(upload(client, huge), 413, "payload_too_large")

    assert list(scratch.iterdir()) == []
    logged = [caplog.text]
    for record in caplog.records:
        logged += [record.getMessage(), repr(record.args), record.exc_text or ""]
    everything = "\n".join(logged)
    assert marker not in everything
    assert marker.encode().hex() not in everything
    assert repr(private[:32]) not in everything
