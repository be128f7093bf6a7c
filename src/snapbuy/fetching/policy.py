"""What a download may do (FetchPolicy) and what came of it (Fetched, FetchStats)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from snapbuy import __version__

Source = Literal["network", "revalidated", "cache", "failed"]


@dataclass(frozen=True)
class FetchPolicy:
    """Limits, timeouts and retry rules for downloading catalog images and feed files."""

    max_bytes: int = 20 * 1024 * 1024  # per image; bigger (Content-Length or streamed count) -> "too large"
    connect_timeout: float = 5.0
    read_timeout: float = 20.0  # the longest wait for the next bytes of a response
    per_host: int = 8  # concurrent requests to one host (host:port of the requested URL)
    max_in_flight: int = 64  # concurrent requests overall
    retries: int = 3  # extra attempts on 429, 500, 502, 503, 504, connect errors and timeouts
    backoff_seconds: float = 0.5  # first wait between attempts; doubles each time, with jitter
    max_retry_after: float = 60.0  # a longer Retry-After gives up with that reason
    max_redirects: int = 5
    user_agent: str = f"snapbuy/{__version__} (catalog indexer)"
    # False: a cached image is used as it is, without asking the server (source "cache").
    revalidate_cached: bool = True

    def __post_init__(self) -> None:
        for name in ("max_bytes", "per_host", "max_in_flight"):
            if getattr(self, name) < 1:
                raise ValueError(f"FetchPolicy.{name} must be at least 1")
        for name in ("connect_timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FetchPolicy.{name} must be above 0")
        for name in ("retries", "backoff_seconds", "max_retry_after", "max_redirects"):
            if getattr(self, name) < 0:
                raise ValueError(f"FetchPolicy.{name} must not be negative")


@dataclass(frozen=True)
class Fetched:
    """The outcome of one requested image URL."""

    key: int  # the caller's key, returned untouched
    url: str
    data: bytes | None  # the image bytes (from the wire or the cache); None on failure
    reason: str | None  # why it failed (see docs/fetching.md); None on success
    status: int | None  # last HTTP status seen
    bytes_transferred: int  # body bytes received over the wire for this URL, retries included
    source: Source  # "network" | "revalidated" (304, cache used) | "cache" (no request) | "failed"

    def __repr__(self) -> str:  # never the image bytes, even in a log line or a test failure
        size = "None" if self.data is None else f"<{len(self.data)} bytes>"
        return (
            f"Fetched(key={self.key!r}, url={self.url!r}, data={size}, reason={self.reason!r}, "
            f"status={self.status!r}, bytes_transferred={self.bytes_transferred}, source={self.source!r})"
        )


@dataclass(frozen=True)
class FetchStats:
    """Totals over every fetch() of one ImageFetcher."""

    requests: int = 0  # results yielded
    bytes_transferred: int = 0
    revalidated: int = 0  # answered 304, cached bytes used
    failed: int = 0
    retries: int = 0  # extra attempts made
