"""The app (api/app.py): its lifespan (loading in the background, not ready until loaded, an injected
service left open) and its error handlers (every failure a JSON error envelope, and the server keeps
serving)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from snapbuy.api import create_app
from snapbuy.bundle import LEASES_DIR, read_current
from snapbuy.config import Settings
from snapbuy.errors import ECHO_LIMIT, clip, echo
from snapbuy.search import SearchService
from tests.api.helpers import (
    MAX_K,
    assert_error,
    assert_search_response,
    assert_still_serving,
    asymmetric_image,
    encode,
    make_settings,
    photo_png,
    png_bomb,
    upload,
    wait_for,
)

if TYPE_CHECKING:
    from httpx2 import Response


# --- lifespan: loading and readiness -------------------------------------------------------------


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
        holder = app.state.services
        wait_for(lambda: client.get("/readyz").status_code != 503 or holder.load_error is not None)
        assert holder.load_error is None
        assert client.get("/readyz").json() == {
            "status": "ready",
            "detail": None,
            "version": read_current(sample_index),
            "last_reload_error": None,
        }
        body = client.get("/v1/search", params={"q": "green sneaker", "k": 2}).json()
        assert_search_response(body, k=2, source="predicted")
        assert upload(client, photo_png()).status_code == 200
    assert holder.version is None  # the app closed what it loaded
    assert not list((sample_index / LEASES_DIR).iterdir())  # and released its lease


def test_injected_service_is_not_closed(settings: Settings, sample_service: SearchService) -> None:
    """The caller owns an injected service: stopping the app must leave it usable."""
    with TestClient(create_app(settings, sample_service)) as client:
        assert client.get("/v1/products/MUG-1-RED").status_code == 200
    assert sample_service.product("MUG-1-RED").sku == "MUG-1-RED"


# --- errors ----------------------------------------------------------------------------------------


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.delete("/v1/search"), 405, "method_not_allowed")


def truncated_jpeg() -> bytes:
    data = encode(asymmetric_image((256, 256)), "JPEG", quality=90)
    return data[: len(data) // 2]


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


# --- request values quoted back in errors are cut short ------------------------------------------

HUGE = "spaceship" * 5_000  # 45 KB: the test client refuses URLs over 64 KB


@pytest.mark.parametrize(
    "send",
    [
        lambda c: upload(c, photo_png(), {"category": HUGE}),
        lambda c: c.get("/v1/search", params={"q": "watch", "category": HUGE}),
        lambda c: c.get("/v1/products/WAT-1-RED/similar", params={"category": HUGE}),
        lambda c: c.get("/v1/search", params={"q": "watch", "k": HUGE}),
        lambda c: c.get("/v1/search", params={"q": HUGE}),
    ],
    ids=["photo-category", "text-category", "similar-category", "text-k", "text-q"],
)
def test_echoed_values_are_truncated(client: TestClient, send: BadRequest) -> None:
    message = assert_error(send(client), 422, "invalid_parameter")
    assert len(message) < 1200
    assert HUGE not in message


def test_unknown_category_message_quotes_a_clipped_value(client: TestClient) -> None:
    message = assert_error(upload(client, photo_png(), {"category": HUGE}), 422, "invalid_parameter")
    quoted = message.removeprefix("unknown category ").split(";")[0]
    assert quoted == echo(HUGE)
    assert len(quoted) == ECHO_LIMIT + 1 and quoted.endswith("\u2026")


def test_unknown_sku_is_clipped(client: TestClient) -> None:
    message = assert_error(client.get(f"/v1/products/{HUGE}"), 404, "not_found")
    assert len(message) < 300


def test_echo_and_clip() -> None:
    assert echo("mug") == "'mug'"
    assert clip("x" * 100) == "x" * 100
    assert clip("x" * 101) == "x" * 100 + "\u2026"
    assert len(echo("y" * 10_000)) == ECHO_LIMIT + 1
