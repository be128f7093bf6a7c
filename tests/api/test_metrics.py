"""/metrics (api/metrics.py): request counts by route and status, search stage timings, the index served."""

from __future__ import annotations

from fastapi.testclient import TestClient

from snapbuy.api import create_app
from snapbuy.config import Settings
from snapbuy.search import SearchService
from tests.api.helpers import photo_png, upload


def test_metrics_count_requests_time_stages_and_name_the_index(
    settings: Settings, sample_service: SearchService
) -> None:
    with TestClient(create_app(settings, sample_service)) as client:
        assert upload(client, photo_png(), {"k": 2}).status_code == 200
        assert client.get("/v1/products/NOPE").status_code == 404
        text = client.get("/metrics").text
    version = sample_service.bundle.manifest.version
    assert 'http_requests_total{handler="/v1/search",method="POST",status="2xx"} 1.0' in text
    assert 'http_requests_total{handler="/v1/products/{sku}",method="GET",status="4xx"} 1.0' in text
    assert 'snapbuy_search_stage_seconds_count{stage="decode"} 1.0' in text
    assert 'snapbuy_search_stage_seconds_count{stage="embed"} 1.0' in text
    assert 'snapbuy_index_info{index_type="flat",model=' in text and f'version="{version}"' in text
    assert "snapbuy_index_products 24.0" in text
    assert "snapbuy_searches_running 0.0" in text and "snapbuy_searches_waiting 0.0" in text
    assert "snapbuy_model_forwards" not in text  # an injected service runs its model without a worker
    assert "/metrics" not in client.app.openapi()["paths"]  # type: ignore[attr-defined]


def test_two_apps_in_one_process_keep_their_own_counts(
    settings: Settings, sample_service: SearchService
) -> None:
    with TestClient(create_app(settings, sample_service)) as first:
        upload(first, photo_png(), {"k": 1})
    with TestClient(create_app(settings, sample_service)) as second:
        text = second.get("/metrics").text
    assert 'http_requests_total{handler="/v1/search"' not in text


def test_metrics_can_be_switched_off(settings: Settings, sample_service: SearchService) -> None:
    with TestClient(create_app(settings.model_copy(update={"metrics": False}), sample_service)) as client:
        assert client.get("/metrics").status_code == 404
