"""Uploads (api/upload.py and the photo route's handling of them): size limits however the body
arrives, the multipart reader itself, decompression bombs, formats judged from bytes, EXIF orientation,
HEIC, and privacy: an upload is never logged or written to disk."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from starlette.requests import Request
from starlette.types import Message

from snapbuy.api import create_app
from snapbuy.api.upload import MAX_BOUNDARY, MULTIPART_OVERHEAD, read_image_upload
from snapbuy.config import Settings
from snapbuy.errors import ClientClosedRequestError, ImageTooLargeError, InvalidParameterError
from snapbuy.imaging import decode_image
from snapbuy.search import SearchService
from tests.api.helpers import (
    MAX_UPLOAD,
    MB,
    ORIENTATION,
    PRODUCTS,
    ROTATE_90_CW,
    assert_error,
    assert_search_response,
    assert_still_serving,
    asymmetric_image,
    encode,
    make_settings,
    photo_png,
    png_bomb,
    scores_by_sku,
    upload,
)

if TYPE_CHECKING:
    from httpx2 import Response

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


# --- photo handling ------------------------------------------------------------------------------


def test_decompression_bomb_is_refused_from_its_header(client: TestClient) -> None:
    message = assert_error(upload(client, png_bomb()), 413, "image_too_many_pixels")
    assert "20000x20000" in message
    # A PNG decodes at full size, so it has its own, lower limit (16 MP by default): 4000 x 4000 of
    # zeros decodes and searches; 6000 x 6000 (under the 40 MP limit of JPEG photos) is refused.
    assert upload(client, png_bomb(4000, 4000)).status_code == 200
    message = assert_error(upload(client, png_bomb(6000, 6000)), 413, "image_too_many_pixels")
    assert "the limit for PNG, WebP and HEIC photos is 16,000,000" in message
    assert_error(upload(client, png_bomb(6400, 6400)), 413, "image_too_many_pixels")


def test_format_is_judged_from_bytes_not_headers(client: TestClient) -> None:
    """A real PNG sent with a misleading filename and content type is accepted."""
    response = upload(client, photo_png(), filename="notes.txt", content_type="text/plain")
    assert response.status_code == 200, response.text
    jpeg = encode(asymmetric_image(), "JPEG")
    assert upload(client, jpeg, filename="photo.png", content_type="image/png").status_code == 200
    webp = encode(asymmetric_image(), "WEBP", lossless=True)
    assert upload(client, webp, filename="photo", content_type="application/octet-stream").status_code == 200


def test_exif_orientation_is_applied(client: TestClient) -> None:
    upright = asymmetric_image()
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone held sideways stores it
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATE_90_CW
    tagged = encode(stored, "PNG", exif=exif.tobytes())
    with Image.open(io.BytesIO(tagged)) as check:
        assert check.size == (64, 96)
        assert check.getexif()[ORIENTATION] == ROTATE_90_CW

    params = {"k": PRODUCTS, "collapse": "false"}
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


# --- malformed multipart bodies ------------------------------------------------------------------


def multipart_post(client: TestClient, boundary: str, body: bytes) -> Response:
    return client.post(
        "/v1/search", content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )


def image_body(boundary: str, closing: bool = True) -> bytes:
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\n\r\n'
    return head.encode() + photo_png() + (f"\r\n--{boundary}--\r\n".encode() if closing else b"")


MALFORMED: list[tuple[str, str, bytes, int, str]] = [
    ("long-boundary", "x" * 5000, image_body("x" * 5000), 422, "invalid_parameter"),
    ("boundary-just-too-long", "x" * (MAX_BOUNDARY + 1), b"--x\r\n", 422, "invalid_parameter"),
    ("empty-boundary", "", image_body(""), 415, "unsupported_media_type"),
    ("quoted-empty-boundary", '""', image_body(""), 415, "unsupported_media_type"),
    ("no-closing-boundary", "B", image_body("B", closing=False), 422, "invalid_parameter"),
    ("garbage", "B", b"\x00\xff garbage that is not multipart at all \r\n\r\n", 422, "invalid_parameter"),
    ("empty-body", "B", b"", 422, "invalid_parameter"),
    ("wrong-boundary", "B", image_body("C"), 422, "invalid_parameter"),
    ("bad-header-line", "B", b"--B\r\nno colon here\r\n\r\ndata\r\n--B--\r\n", 422, "invalid_parameter"),
    ("bad-char-after-boundary", "B", b"--Bx\r\n", 422, "invalid_parameter"),
]


@pytest.mark.parametrize(
    ("boundary", "body", "status", "code"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_multipart_is_a_json_4xx(
    client: TestClient, boundary: str, body: bytes, status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        message = assert_error(multipart_post(client, boundary, body), status, code)
    assert len(message) < 300
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "malformed bodies are not logged"
    assert_still_serving(client)


def test_missing_closing_boundary_is_named() -> None:
    request, _ = fake_request(MULTIPART, iter([image_body("B", closing=False)]))
    with pytest.raises(InvalidParameterError, match="ends without its closing boundary"):
        asyncio.run(read_image_upload(request, MAX_UPLOAD))


def test_boundary_at_the_limit_is_accepted() -> None:
    boundary = "b" * MAX_BOUNDARY
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    request, _ = fake_request(headers, iter([image_body(boundary)]))
    assert asyncio.run(read_image_upload(request, MAX_UPLOAD)) == photo_png()


def test_client_disconnect_is_499_and_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    sent = iter([part_head("image") + b"\x89PNG\r\n\x1a\n"])

    async def receive() -> Message:
        chunk = next(sent, None)
        if chunk is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": True}

    request, _ = fake_request(MULTIPART, iter([]))
    request = Request(request.scope, receive)
    with caplog.at_level(logging.DEBUG), pytest.raises(ClientClosedRequestError) as raised:
        asyncio.run(read_image_upload(request, MAX_UPLOAD))
    assert raised.value.http_status == 499
    records = [r for r in caplog.records if r.name.startswith("snapbuy")]
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.INFO, None)]
    assert "disconnected" in records[0].getMessage()


def test_client_disconnect_through_the_app_is_499_without_traceback(
    settings: Settings,
    sample_service: SearchService,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def disconnected(_: Request, __: int) -> bytes:
        raise ClientClosedRequestError("client disconnected during the upload")

    app = create_app(settings, sample_service)
    monkeypatch.setattr("snapbuy.api.routes.read_image_upload", disconnected)
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.DEBUG):
        assert_error(upload(client, photo_png()), 499, "client_closed_request")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


def test_uploads_are_decoded_to_the_encoders_photo_side(
    client: TestClient, sample_service: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[tuple[int | None, tuple[int, int]]] = []

    def spy(data: bytes, **kwargs: Any) -> Image.Image:
        image = decode_image(data, **kwargs)
        decoded.append((kwargs.get("detail_side"), image.size))
        return image

    monkeypatch.setattr("snapbuy.api.routes.decode_image", spy)
    side = sample_service.encoder.photo_side
    assert side is not None
    big = asymmetric_image((3 * side, side))
    response = upload(client, encode(big, "JPEG", quality=90))
    assert response.status_code == 200, response.text
    [(detail_side, (width, height))] = decoded
    assert detail_side == side
    # The JPEG decoder's half scale keeps `side` pixels, and nothing resizes it further.
    assert width == 3 * side // 2 and abs(height - side / 2) <= 1
