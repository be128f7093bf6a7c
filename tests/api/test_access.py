"""API keys, rate limits, CORS and the docs switch (api/access.py and their wiring in api/app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from snapbuy.api import create_app
from snapbuy.api.access import RateLimiter, TokenBucket, hash_key, new_key, parse_api_keys
from snapbuy.config import Settings
from snapbuy.errors import InvalidParameterError
from snapbuy.search import SearchService
from tests.api.helpers import assert_error, make_settings, photo_png, upload

KEY = new_key()


def app_client(settings: Settings, service: SearchService) -> TestClient:
    return TestClient(create_app(settings, service))


@pytest.fixture
def keyed(settings: Settings, sample_service: SearchService) -> Iterator[TestClient]:
    keyed_settings = settings.model_copy(update={"api_keys": [f"ios-app:{hash_key(KEY)}"]})
    with app_client(keyed_settings, sample_service) as client:
        yield client


def test_keys_are_parsed_and_malformed_entries_refused() -> None:
    (key,) = parse_api_keys([f"web:{hash_key('secret').upper()}"])
    assert (key.name, key.sha256) == ("web", hash_key("secret"))
    for bad in ("web", "web:1234", ":" + hash_key("x"), "web:" + "g" * 64):
        with pytest.raises(InvalidParameterError, match="NAME:SHA256"):
            parse_api_keys([bad])


def test_without_a_key_the_api_is_refused_but_health_stays_open(keyed: TestClient) -> None:
    message = assert_error(keyed.get("/v1/index"), 401, "unauthorized")
    assert "API key" in message
    assert keyed.get("/v1/index", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert keyed.get("/livez").status_code == 200 and keyed.get("/readyz").status_code == 200


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_a_valid_key_is_accepted_by_either_header(keyed: TestClient, header: str) -> None:
    value = f"Bearer {KEY}" if header == "authorization" else KEY
    assert keyed.get("/v1/index", headers={header: value}).status_code == 200
    response = keyed.post(
        "/v1/search",
        params={"k": 1},
        files={"image": ("p.png", photo_png(), "image/png")},
        headers={header: value},
    )
    assert response.status_code == 200


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, stamp=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token every half second
    assert bucket.take(0.5) == 0.0


def test_the_limiter_keeps_one_bucket_per_client() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=1, clock=lambda: now[0])
    assert limiter.wait_for("a") == 0.0 and limiter.wait_for("b") == 0.0
    assert limiter.wait_for("a") == pytest.approx(1.0)
    now[0] = 1.0
    assert limiter.wait_for("a") == 0.0


def test_over_the_rate_is_429_with_retry_after(settings: Settings, sample_service: SearchService) -> None:
    limited = settings.model_copy(update={"rate_limit": 0.01, "rate_burst": 2})
    with app_client(limited, sample_service) as client:
        assert [client.get("/v1/index").status_code for _ in range(2)] == [200, 200]
        refused = client.get("/v1/index")
        assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1
        assert client.get("/livez").status_code == 200  # health checks are never limited


def test_cors_allows_only_the_configured_origins(settings: Settings, sample_service: SearchService) -> None:
    shop = "https://shop.example"
    with app_client(settings.model_copy(update={"cors_origins": [shop]}), sample_service) as client:
        preflight: dict[str, Any] = {"Origin": shop, "Access-Control-Request-Method": "POST"}
        allowed = client.options("/v1/search", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == shop
        other = client.get("/v1/index", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    with app_client(settings, sample_service) as client:  # none configured: no CORS headers at all
        assert "access-control-allow-origin" not in client.get("/v1/index", headers={"Origin": shop}).headers


def test_docs_and_schema_can_be_switched_off(settings: Settings, sample_service: SearchService) -> None:
    with app_client(settings.model_copy(update={"api_docs": False}), sample_service) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404
        assert upload(client, photo_png(), {"k": 1}).status_code == 200
    with app_client(make_settings(settings.index), sample_service) as client:
        assert client.get("/openapi.json").status_code == 200
