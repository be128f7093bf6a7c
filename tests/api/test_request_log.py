"""Request ids and access lines (api/request_log.py): an id per request, returned and logged, with no
query string and no body in the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from snapbuy.api import create_app
from snapbuy.config import Settings
from snapbuy.search import SearchService
from tests.api.helpers import photo_png, upload


@pytest.fixture(scope="module")
def logged_client(settings: Settings, sample_service: SearchService) -> Iterator[TestClient]:
    with TestClient(create_app(settings, sample_service)) as client:
        yield client


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "snapbuy.access"]


def test_every_answer_carries_a_request_id_and_one_access_line(
    logged_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="snapbuy.access")
    first = logged_client.get("/v1/search", params={"q": "my secret words"})
    second = logged_client.get("/v1/products/NOPE")
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)
    lines = access_lines(caplog)
    assert [(r.path, r.status) for r in lines] == [("/v1/search", 200), ("/v1/products/NOPE", 404)]  # type: ignore[attr-defined]
    assert all("secret" not in r.getMessage() and "secret" not in str(vars(r)) for r in lines)


def test_a_clients_own_request_id_is_kept_when_it_looks_like_one(logged_client: TestClient) -> None:
    kept = logged_client.get("/livez", headers={"X-Request-ID": "app-1234abcd"})
    assert kept.headers["x-request-id"] == "app-1234abcd"
    replaced = logged_client.get("/livez", headers={"X-Request-ID": "bad id\nwith newline"})
    assert (
        replaced.headers["x-request-id"] != "bad id\nwith newline"
        and len(replaced.headers["x-request-id"]) == 32
    )


def test_a_photo_upload_leaves_no_bytes_in_the_log(
    logged_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    photo = photo_png()
    assert upload(logged_client, photo, {"k": 1}).status_code == 200
    logged = " ".join(str(vars(r)) for r in caplog.records)
    assert photo[8:40].hex() not in logged and repr(photo[8:40]) not in logged
