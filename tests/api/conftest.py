"""Fixtures of the API tests: every app is built with an explicit Settings and driven through
TestClient as a context manager, so the lifespan runs. The search service is the session-wide sample
index with the tiny model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from snapbuy.api import create_app
from snapbuy.bundle import open_current
from snapbuy.config import Settings
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.loading import build_service
from snapbuy.search import SearchService
from tests.api.helpers import make_settings, writable_index_copy


@pytest.fixture(scope="module")
def settings(sample_index: Path) -> Settings:
    return make_settings(sample_index)


@pytest.fixture(scope="module")
def client(settings: Settings, sample_service: SearchService) -> Iterator[TestClient]:
    with TestClient(create_app(settings, sample_service)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def stocked_service(stocked_sample_index: Path, tiny_embedder: OpenClipEmbedder) -> Iterator[SearchService]:
    """The sample catalog with one watch out of stock, one on preorder and one on sale."""
    service = build_service(open_current(stocked_sample_index), tiny_embedder)
    try:
        yield service
    finally:
        service.close()


@pytest.fixture(scope="module")
def stocked_client(stocked_sample_index: Path, stocked_service: SearchService) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(stocked_sample_index), stocked_service)) as test_client:
        yield test_client


@pytest.fixture
def live_index(sample_index: Path, tmp_path: Path) -> Path:
    """A writable copy of the sample index, for tests that publish new versions into it."""
    return writable_index_copy(sample_index, tmp_path / "live")


@pytest.fixture
def live_service(live_index: Path, tiny_embedder: OpenClipEmbedder) -> SearchService:
    """A service over live_index's first version, for an app that owns it (owns_service=True)."""
    return build_service(open_current(live_index), tiny_embedder)
