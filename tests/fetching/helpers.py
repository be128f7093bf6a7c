"""Shared pieces of the HTTP tests: handlers with bounded waits, a concurrency recorder, result maps."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from werkzeug import Request, Response

from snapbuy.fetching import Fetched, ImageFetcher

Handler = Callable[[Request], Response]


def fetch_all(fetcher: ImageFetcher, urls: list[str]) -> dict[int, Fetched]:
    results = {fetched.key: fetched for fetched in fetcher.fetch(enumerate(urls))}
    assert sorted(results) == list(range(len(urls)))
    return results


def stalled_after_headers(release: threading.Event, first_bytes: bytes) -> Handler:
    """Sends the headers and `first_bytes`, then nothing until `release` is set (10 s at most)."""

    def body() -> Iterator[bytes]:
        yield first_bytes
        release.wait(10)

    return lambda request: Response(body(), content_type="image/png")


def chunked(chunk: bytes, count: int) -> Handler:
    """A body of `count` chunks sent without Content-Length."""
    return lambda request: Response((chunk for _ in range(count)), content_type="image/png")


class ConcurrencyRecorder:
    """Counts requests in progress, per Host header and overall, from the server's side."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: dict[str, int] = {}
        self.most_per_host: dict[str, int] = {}
        self.most_overall = 0
        self.started = 0

    def handler(self, body: bytes, seconds: float) -> Handler:
        def handle(request: Request) -> Response:
            host = request.headers.get("Host", "?")
            with self._lock:
                self.started += 1
                self._now[host] = self._now.get(host, 0) + 1
                self.most_per_host[host] = max(self.most_per_host.get(host, 0), self._now[host])
                self.most_overall = max(self.most_overall, sum(self._now.values()))
            try:
                time.sleep(seconds)
                return Response(body, content_type="image/png")
            finally:
                with self._lock:
                    self._now[host] -= 1

        return handle
