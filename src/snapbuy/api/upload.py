"""Read one image out of a multipart upload, in memory, enforcing the size limit while streaming.

Starlette's form parser spools large files to a temporary file on disk; shopper photos are personal
data and must never touch disk, so we parse the stream ourselves and stop as soon as it is too big."""

from __future__ import annotations

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from snapbuy.errors import ImageTooLargeError, InvalidParameterError, UnsupportedImageError

IMAGE_FIELD = "image"
# Room for multipart boundaries, part headers and small extra fields on top of the image itself.
MULTIPART_OVERHEAD = 64 * 1024


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


async def read_image_upload(request: Request, max_bytes: int) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise UnsupportedImageError(
            f"send the photo as multipart/form-data with a field named '{IMAGE_FIELD}'"
        )
    max_body = max_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        raise _too_large(max_bytes)  # refused before a single body byte is read
    collector = _ImagePartCollector(max_bytes)
    callbacks = {name: getattr(collector, name) for name in dir(collector) if name.startswith("on_")}
    parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body:
                raise _too_large(max_bytes)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise InvalidParameterError(f"malformed multipart body: {exc}") from exc
    if collector.image is None:
        raise InvalidParameterError(f"multipart field '{IMAGE_FIELD}' is missing")
    return bytes(collector.image)
