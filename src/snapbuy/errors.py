"""One exception hierarchy: each class maps to one HTTP status and one CLI exit code."""

from __future__ import annotations

# Request values quoted back in error messages are cut to this many characters: a 100 KB query
# parameter must not come back as a 100 KB error message (or end up whole in a log line).
ECHO_LIMIT = 100


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """repr(value) for an error message, cut to about `limit` characters with an ellipsis."""
    return clip(repr(value), limit)


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text`, or its first `limit` characters and an ellipsis when it is longer."""
    return text if len(text) <= limit else text[:limit] + "…"


class SnapbuyError(Exception):
    """Base class. `code` is a stable machine-readable string used in API error bodies."""

    code = "snapbuy_error"
    http_status = 500
    exit_code = 1
    # Seconds after which the same request may succeed (sent as Retry-After); None: not a retry matter.
    retry_after_s: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def http_headers(self) -> dict[str, str]:
        """Extra response headers for the API's error response."""
        return {} if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}


class ConfigError(SnapbuyError):
    code = "config_error"
    http_status = 500
    exit_code = 2


class InvalidParameterError(SnapbuyError):
    code = "invalid_parameter"
    http_status = 422
    exit_code = 2


class CatalogError(SnapbuyError):
    """A catalog row or file is invalid. The message names file, line and field."""

    code = "catalog_error"
    http_status = 422
    exit_code = 3

    def __init__(self, path: str, line: int, field: str, reason: str) -> None:
        super().__init__(f"{path}:{line}: field '{field}': {reason}")
        self.path = path
        self.line = line
        self.field = field
        self.reason = reason


class ImageError(SnapbuyError):
    """Base class for images we cannot use."""

    code = "invalid_image"
    http_status = 422
    exit_code = 4


class ImageTooLargeError(ImageError):
    """The upload's byte size is over the limit."""

    code = "payload_too_large"
    http_status = 413


class TooManyPixelsError(ImageError):
    """The image declares more pixels than allowed (decompression bomb guard)."""

    code = "image_too_many_pixels"
    http_status = 413


class UnsupportedImageError(ImageError):
    """The bytes are not an image format we accept (checked from content, not headers)."""

    code = "unsupported_media_type"
    http_status = 415


class CorruptImageError(ImageError):
    """Recognised format, but truncated or undecodable."""

    code = "corrupt_image"
    http_status = 422


class FetchError(SnapbuyError):
    """A remote file (a product feed) could not be downloaded. The message names the URL and why."""

    code = "fetch_failed"
    http_status = 502
    exit_code = 9


class ModelError(SnapbuyError):
    code = "model_error"
    http_status = 500
    exit_code = 5


class ModelSpecError(ModelError):
    code = "invalid_model_spec"
    exit_code = 2


class WeightsUnavailableError(ModelError):
    code = "weights_unavailable"


class BundleError(SnapbuyError):
    code = "index_error"
    http_status = 500
    exit_code = 6


class BundleNotFoundError(BundleError):
    code = "index_not_found"


class ModelMismatchError(BundleError):
    code = "model_mismatch"
    exit_code = 7


class NotFoundError(SnapbuyError):
    code = "not_found"
    http_status = 404
    exit_code = 8


class NotReadyError(SnapbuyError):
    code = "not_ready"
    http_status = 503
    exit_code = 1


class UnauthorizedError(SnapbuyError):
    """A request to an admin route without the right bearer token."""

    code = "unauthorized"
    http_status = 401


class OverloadedError(SnapbuyError):
    """Too many searches are running and waiting: the client should retry shortly."""

    code = "overloaded"
    http_status = 503
    exit_code = 1
    retry_after_s = 1


class DeadlineExceededError(SnapbuyError):
    """A search ran past its deadline (settings.search_deadline) and was given up between stages."""

    code = "deadline_exceeded"
    http_status = 504
    exit_code = 1
    retry_after_s = 1


class ClientClosedRequestError(SnapbuyError):
    """The client went away before its request was read (nginx's 499; nobody receives the answer)."""

    code = "client_closed_request"
    http_status = 499
    exit_code = 1


class IndexBusyError(BundleError):
    """Another `snapbuy index` run holds the index's lock."""

    code = "index_busy"
    exit_code = 10
