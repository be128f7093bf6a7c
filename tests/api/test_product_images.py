"""GET /v1/products/{sku}/image (api/product_images.py) and the conditional answers behind it
(api/http_cache.py): the served version's thumbnail with ETag and Cache-Control, 304 on a match,
the standard 404 for an unknown product or one without a thumbnail."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from snapbuy.api import create_app
from snapbuy.api.access import hash_key, new_key
from snapbuy.api.http_cache import content_etag, etag_matches
from snapbuy.bundle import open_current
from snapbuy.config import Settings
from snapbuy.search import SearchService
from tests.api.helpers import assert_error, make_settings
from tests.conftest import SAMPLE_CATALOG

SKU = "WAT-2-BLUE"  # its image_link: images/wat-2-blue.jpg, next to the sample catalog
KEY = new_key()


def image_url(sku: str) -> str:
    return f"/v1/products/{sku}/image"


def test_a_product_image_is_its_catalog_picture_as_a_cacheable_jpeg(client: TestClient) -> None:
    response = client.get(image_url(SKU))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["etag"] == content_etag(response.content)
    assert response.headers["cache-control"] == "max-age=3600"
    served = Image.open(io.BytesIO(response.content))
    assert served.format == "JPEG" and max(served.size) <= 320
    catalog = Image.open(SAMPLE_CATALOG.parent / "images" / "wat-2-blue.jpg").convert("RGB")
    # The same picture (the sample's images are smaller than a thumbnail, so the same size too).
    assert served.size == catalog.size
    difference = np.abs(np.asarray(served, np.int16) - np.asarray(catalog, np.int16))
    assert difference.mean() < 4


@pytest.mark.parametrize("header", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
def test_a_client_holding_the_image_gets_a_bodiless_304(client: TestClient, header: str) -> None:
    etag = client.get(image_url(SKU)).headers["etag"]
    response = client.get(image_url(SKU), headers={"If-None-Match": header.format(etag=etag)})
    assert response.status_code == 304 and response.content == b""
    assert response.headers["etag"] == etag and response.headers["cache-control"] == "max-age=3600"


def test_a_stale_etag_gets_the_image_again(client: TestClient) -> None:
    response = client.get(image_url(SKU), headers={"If-None-Match": '"0123456789abcdef"'})
    assert response.status_code == 200 and response.content.startswith(b"\xff\xd8")


def test_each_product_has_its_own_image(client: TestClient) -> None:
    blue, red = (client.get(image_url(sku)) for sku in ("WAT-2-BLUE", "WAT-1-RED"))
    assert blue.status_code == red.status_code == 200
    assert blue.headers["etag"] != red.headers["etag"]


def test_an_unknown_sku_is_the_standard_404(client: TestClient) -> None:
    message = assert_error(client.get(image_url("NO-SUCH-SKU")), 404, "not_found")
    assert "NO-SUCH-SKU" in message


def test_a_path_in_the_sku_reads_no_file(client: TestClient) -> None:
    for sku in ("..%2F..%2Fmanifest.json", "%2E%2E", "0.jpg"):
        assert_error(client.get(image_url(sku)), 404, "not_found")


def test_unknown_query_parameters_are_refused_like_every_v1_route(client: TestClient) -> None:
    message = assert_error(client.get(image_url(SKU), params={"size": "big"}), 422, "invalid_parameter")
    assert "'size'" in message


@pytest.fixture
def client_without_a_thumbnail(
    live_index: Path, live_service: SearchService
) -> Iterator[tuple[TestClient, str]]:
    """A copy of the sample index whose version lost one product's thumbnail."""
    bundle = open_current(live_index)
    record = live_service.product(SKU)
    bundle.thumbnail_path(record.row).unlink()
    with TestClient(create_app(make_settings(live_index), live_service, owns_service=True)) as client:
        yield client, SKU


def test_a_product_without_a_thumbnail_is_a_404_saying_so(
    client_without_a_thumbnail: tuple[TestClient, str],
) -> None:
    client, sku = client_without_a_thumbnail
    message = assert_error(client.get(image_url(sku)), 404, "not_found")
    assert "no thumbnail" in message
    assert client.get(image_url("WAT-1-RED")).status_code == 200


def test_with_api_keys_the_image_needs_one_too(settings: Settings, sample_service: SearchService) -> None:
    keyed_settings = settings.model_copy(update={"api_keys": [f"page:{hash_key(KEY)}"]})
    with TestClient(create_app(keyed_settings, sample_service)) as keyed:
        assert_error(keyed.get(image_url(SKU)), 401, "unauthorized")
        assert keyed.get(image_url(SKU), headers={"X-API-Key": KEY}).status_code == 200


def test_the_route_is_described_in_the_api_schema(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/products/{sku}/image"]["get"]
    assert "image/jpeg" in operation["responses"]["200"]["content"]
    assert {"304", "404"} <= set(operation["responses"])


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ('"x",W/"abc" ', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
    ],
)
def test_if_none_match_is_compared_weakly_over_its_list(header: str | None, matches: bool) -> None:
    assert etag_matches(header, '"abc"') is matches
