"""POST /v1/admin/reload (api/admin.py): off without SNAPBUY_ADMIN_TOKEN, 401 without the right bearer
token, else it serves the index's live version now; a version that cannot be loaded leaves the served
one in place and says why."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from snapbuy.api import create_app
from snapbuy.api.redact import redacted
from snapbuy.bundle import Manifest, read_current
from snapbuy.search import SearchService
from tests.api.helpers import assert_error, assert_still_serving, make_settings, publish_copy

TOKEN = "s3cret-token"
RELOAD = "/v1/admin/reload"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_client(index: Path, service: SearchService, **settings: Any) -> TestClient:
    # reload_interval=0: only the route reloads, so each test decides when.
    app = create_app(make_settings(index, reload_interval=0, **settings), service, owns_service=True)
    return TestClient(app)


@pytest.fixture
def client(live_index: Path, live_service: SearchService) -> Iterator[TestClient]:
    with admin_client(live_index, live_service, admin_token=TOKEN) as test_client:
        yield test_client


def test_disabled_without_a_token(live_index: Path, live_service: SearchService) -> None:
    with admin_client(live_index, live_service) as client:
        assert_error(client.post(RELOAD, headers=bearer(TOKEN)), 404, "not_found")


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong"), bearer(""), {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
def test_refused_without_the_right_token(client: TestClient, headers: dict[str, str]) -> None:
    assert_error(client.post(RELOAD, headers=headers), 401, "unauthorized")


def test_reload_serves_a_new_version(client: TestClient, live_index: Path) -> None:
    first = read_current(live_index)
    same = client.post(RELOAD, headers=bearer(TOKEN))
    assert same.status_code == 200, same.text
    assert same.json() == {"version": first, "reloaded": False, "last_reload_error": None}

    second = publish_copy(live_index)
    answer = client.post(RELOAD, headers=bearer(TOKEN)).json()
    assert answer == {"version": second, "reloaded": True, "last_reload_error": None}
    assert client.get("/v1/index").json()["version"] == second
    assert client.get("/readyz").json()["version"] == second
    search = client.get("/v1/search", params={"q": "red mug", "k": 2}).json()
    assert search["index_version"] == second
    assert_still_serving(client)


def other_model(manifest: Manifest) -> Manifest:
    return replace(manifest, model=replace(manifest.model, weights="sha256:" + "1" * 64))


def test_a_version_that_cannot_load_keeps_the_served_one(client: TestClient, live_index: Path) -> None:
    first = read_current(live_index)
    broken = publish_copy(live_index, other_model)
    answer = client.post(RELOAD, headers=bearer(TOKEN)).json()
    assert answer["version"] == first and answer["reloaded"] is False
    error = answer["last_reload_error"]
    assert broken in error and "model" in error

    ready = client.get("/readyz")
    assert ready.status_code == 200
    # The public routes name files, not the server's paths; the admin route keeps them.
    public = redacted(error)
    assert public != error and "/" not in public.replace("B/vector", "")
    assert ready.json()["version"] == first and ready.json()["last_reload_error"] == public
    assert client.get("/v1/index").json()["last_reload_error"] == public
    assert_still_serving(client)
