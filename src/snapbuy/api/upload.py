"""Read one image out of a multipart upload, in memory, enforcing the size limit while streaming.

Starlette's form parser spools large files to a temporary file on disk; shopper photos are personal
data and must never touch disk, so we parse the stream ourselves and stop as soon as it is too big."""

from __future__ import annotations

import logging

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from snapbuy.errors import (
    ClientClosedRequestError,
    ImageTooLargeError,
    InvalidParameterError,
    UnsupportedImageError,
    clip,
)

log = logging.getLogger(__name__)

IMAGE_FIELD = "image"
# Room for multipart boundaries, part headers and small extra fields on top of the image itself.
MULTIPART_OVERHEAD = 64 * 1024
# RFC 2046 section 5.1.1 allows 1 to 70 characters; we accept some slack for odd clients, but a
# boundary is searched for in every chunk, so an unbounded one is refused.
MAX_BOUNDARY = 200


def _too_large(max_bytes: int) -> ImageTooLargeError:
    return ImageTooLargeError(f"upload is larger than the limit of {max_bytes / 1024 / 1024:.1f} MB")


class _ImagePartCollector:
    """Callbacks for python-multipart that keep only the 'image' part, up to max_bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.image: bytearray | None = None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._in_image = False
        self.ended = False  # the closing boundary was seen

    def on_part_begin(self) -> None:
        self._headers = {}
        self._in_image = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        if params.get(b"name", b"").decode("latin-1") == IMAGE_FIELD and self.image is None:
            self.image = bytearray()
            self._in_image = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_image and self.image is not None:
            if len(self.image) + (end - start) > self.max_bytes:
                raise _too_large(self.max_bytes)
            self.image += data[start:end]

    def on_part_end(self) -> None:
        self._in_image = False

    def on_end(self) -> None:
        self.ended = True


def _boundary(content_type_header: str) -> bytes:
    """The multipart boundary of a Content-Type header, or a 415/422 error."""
    content_type, params = parse_options_header(content_type_header)
    boundary = params.get(b"boundary", b"")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedImageError(
            f"send the photo as multipart/form-data with a field named '{IMAGE_FIELD}'"
        )
    if len(boundary) > MAX_BOUNDARY:
        raise InvalidParameterError(
            f"multipart boundary is {len(boundary)} characters long; the limit is {MAX_BOUNDARY}"
        )
    return boundary


async def read_image_upload(request: Request, max_bytes: int) -> bytes:
    """The bytes of the multipart field 'image'. Every malformed body is a 4xx SnapbuyError (never
    the parser's own exception), and a client that disconnects mid-upload a ClientClosedRequestError."""
    boundary = _boundary(request.headers.get("content-type", ""))
    max_body = max_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        raise _too_large(max_bytes)  # refused before a single body byte is read
    collector = _ImagePartCollector(max_bytes)
    callbacks = {name: getattr(collector, name) for name in dir(collector) if name.startswith("on_")}
    received = 0
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        # The parser logs a warning for each malformed body; the client gets the reason as a 4xx,
        # so the server's log stays quiet (a logger outside the hierarchy, above every level).
        parser.logger = logging.Logger("snapbuy.multipart.quiet", level=logging.CRITICAL + 1)
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body:
                raise _too_large(max_bytes)
            parser.write(chunk)
        parser.finalize()
    except ClientDisconnect as exc:
        log.info("client disconnected during its upload, after %d bytes", received)
        raise ClientClosedRequestError("client disconnected during the upload") from exc
    # FormParserError is python-multipart's whole family; it also raises plain ValueError (and
    # FormParserError subclasses it) for some malformed input.
    except (FormParserError, ValueError) as exc:
        raise InvalidParameterError(f"malformed multipart body: {clip(str(exc))}") from exc
    if not collector.ended:
        raise InvalidParameterError("multipart body ends without its closing boundary")
    if collector.image is None:
        raise InvalidParameterError(f"multipart field '{IMAGE_FIELD}' is missing")
    return bytes(collector.image)
