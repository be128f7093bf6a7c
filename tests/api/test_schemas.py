"""The published response shapes (api/schemas.py): a product, the index summary, and the OpenAPI
document with its error responses."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from snapbuy.api.redact import file_names_only
from snapbuy.search import SearchService
from tests.api.helpers import CATEGORIES, PRODUCTS, TIER_NAMES, assert_item


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
        "price_paid": 630.0,
        "sale_price": None,
        "sale_price_effective_date": None,
        "currency": "NOK",
        "availability": "in_stock",
        "tier": "budget",
        "item_group_id": "WAT-1",
        "link": "https://shop.example/p/wat-1-red",
        "image_link": "images/wat-1-red.jpg",
        "score": None,
        "variants": [  # the design's other colour
            {
                "sku": "WAT-1-BLACK",
                "title": "Basico black watch",
                "price_paid": 650.0,
                "currency": "NOK",
                "availability": "in_stock",
                "link": "https://shop.example/p/wat-1-black",
                "image_link": "images/wat-1-black.jpg",
            }
        ],
        "variant_count": 1,
    }


def test_index_summary(client: TestClient, sample_service: SearchService) -> None:
    response = client.get("/v1/index")
    assert response.status_code == 200, response.text
    body = response.json()
    manifest = sample_service.bundle.manifest
    assert body["version"] == manifest.version
    spec = sample_service.embedder.identity.spec
    assert spec.startswith("/")  # the sample model is a config file given by its absolute path
    assert body["model"]["spec"] == file_names_only(spec) == "tiny-clip.json:random"
    assert not [text for text in strings(body) if text.startswith("/") or "/tests/" in text]
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
        "/v1/admin/reload": {"post"},
    }
    assert expected.keys() <= paths.keys()
    for path, methods in expected.items():
        assert methods <= paths[path].keys()
    post = paths["/v1/search"]["post"]
    assert {"413", "415", "422", "503"} <= post["responses"].keys()
    options = {"k", "category", "min_price", "max_price", "include_out_of_stock"}
    for route in (post, paths["/v1/search"]["get"], paths["/v1/products/{sku}/similar"]["get"]):
        assert {p["name"] for p in route["parameters"]} >= options


def test_openapi_documents_the_photo_field(client: TestClient) -> None:
    post = client.get("/openapi.json").json()["paths"]["/v1/search"]["post"]
    schema = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert post["requestBody"]["required"] is True
    assert schema["required"] == ["image"]
    assert schema["properties"]["image"]["type"] == "string"
    assert schema["properties"]["image"]["format"] == "binary"
    assert {"499", "503"} <= post["responses"].keys()


def strings(value: Any) -> list[str]:
    """Every string value in a JSON document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/srv/models/run7/config.json:/srv/models/run7/ckpt.pt", "config.json:ckpt.pt"),
        ("ViT-B-32:laion2b_s34b_b79k", "ViT-B-32:laion2b_s34b_b79k"),
        ("ViT-B-32:models/finetuned.pt", "ViT-B-32:finetuned.pt"),
        ("hf-hub:laion/CLIP-ViT-B-32", "hf-hub:laion/CLIP-ViT-B-32"),
        ("https://shop.example/feed.xml", "https://shop.example/feed.xml"),
        ("C:\\models\\ckpt.pt", "C:ckpt.pt"),
        ("sha256:abc", "sha256:abc"),
        ("auto: 2,000 vectors, 2GB: ivf with rows, ~1200 B/vector in RAM", None),
        ("/srv/models/my model.pt", "my model.pt"),
        (
            "BundleError: cannot read /srv/indexes/shop/v3/manifest.json (see /var/log/x.log)",
            "BundleError: cannot read manifest.json (see x.log)",
        ),
        ("ivf, ~1200 B/vector; 2 GB / 1.2 KB", None),
        ("feed at https://shop.example/a/feed.xml failed", None),
    ],
)
def test_file_names_only(text: str, expected: str | None) -> None:
    assert file_names_only(text) == (text if expected is None else expected)
