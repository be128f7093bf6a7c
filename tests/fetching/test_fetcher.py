"""ImageFetcher against local servers on 127.0.0.1: statuses, retries, limits, redirects, cache."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from snapbuy.fetching import FetchPolicy, ImageCache, ImageFetcher

from .conftest import png_bytes
from .helpers import ConcurrencyRecorder, chunked, fetch_all, stalled_after_headers

HTML = b"<!doctype html><title>Sorry</title><p>This product is gone.</p>"


_BEFORE: set[threading.Thread] = set()


@pytest.fixture(autouse=True)
def _threads_before_the_test() -> None:
    """Threads other tests of the session left behind (an event loop's executor, say) are not ours."""
    _BEFORE.clear()
    _BEFORE.update(threading.enumerate())


def our_threads() -> list[threading.Thread]:
    """Threads this package may have started during the test: the fetch thread and asyncio's default
    executor."""
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith(("snapbuy-fetch", "asyncio_")) and t not in _BEFORE
    ]


def test_downloads_an_image(httpserver: HTTPServer, policy: FetchPolicy, png: bytes) -> None:
    httpserver.expect_request("/a.png").respond_with_data(png, content_type="image/png")
    fetcher = ImageFetcher(policy, cache=None)
    [fetched] = fetch_all(fetcher, [httpserver.url_for("/a.png")]).values()
    assert (fetched.data, fetched.reason, fetched.status, fetched.source) == (png, None, 200, "network")
    assert fetched.bytes_transferred == len(png)
    request, _ = httpserver.log[0]
    assert request.headers["User-Agent"] == policy.user_agent
    assert fetcher.stats().requests == 1 and fetcher.stats().bytes_transferred == len(png)
    assert not our_threads()


def test_404_is_not_retried(httpserver: HTTPServer, policy: FetchPolicy) -> None:
    httpserver.expect_request("/gone.png").respond_with_data(b"no", status=404)
    fetcher = ImageFetcher(policy, cache=None)
    [fetched] = fetch_all(fetcher, [httpserver.url_for("/gone.png")]).values()
    assert (fetched.data, fetched.reason, fetched.status, fetched.source) == (None, "HTTP 404", 404, "failed")
    assert len(httpserver.log) == 1
    assert fetcher.stats().failed == 1 and fetcher.stats().retries == 0


def test_500_then_200_is_retried(httpserver: HTTPServer, policy: FetchPolicy, png: bytes) -> None:
    httpserver.expect_oneshot_request("/flaky.png").respond_with_data(b"oops", status=500)
    httpserver.expect_request("/flaky.png").respond_with_data(png, content_type="image/png")
    fetcher = ImageFetcher(policy, cache=None)
    [fetched] = fetch_all(fetcher, [httpserver.url_for("/flaky.png")]).values()
    assert (fetched.data, fetched.status, fetched.source) == (png, 200, "network")
    assert len(httpserver.log) == 2 and fetcher.stats().retries == 1


def test_503_every_time_gives_up_after_all_attempts(httpserver: HTTPServer, policy: FetchPolicy) -> None:
    httpserver.expect_request("/down.png").respond_with_data(b"busy", status=503)
    fetcher = ImageFetcher(policy, cache=None)
    [fetched] = fetch_all(fetcher, [httpserver.url_for("/down.png")]).values()
    assert fetched.reason == "HTTP 503 after 4 attempts" and fetched.status == 503
    assert len(httpserver.log) == 4 and fetcher.stats().retries == 3


def test_429_waits_for_retry_after(httpserver: HTTPServer, policy: FetchPolicy, png: bytes) -> None:
    httpserver.expect_oneshot_request("/busy.png").respond_with_data(
        b"slow down", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_request("/busy.png").respond_with_data(png, content_type="image/png")
    fetcher = ImageFetcher(policy, cache=None)
    started = time.monotonic()
    [fetched] = fetch_all(fetcher, [httpserver.url_for("/busy.png")]).values()
    assert time.monotonic() - started >= 0.95  # it waited the second asked (backoff alone is 10 ms)
    assert fetched.data == png and len(httpserver.log) == 2


def test_too_long_retry_after_gives_up(httpserver: HTTPServer, policy: FetchPolicy) -> None:
    httpserver.expect_request("/later.png").respond_with_data(
        b"", status=503, headers={"Retry-After": "3600"}
    )
    [fetched] = fetch_all(ImageFetcher(policy, None), [httpserver.url_for("/later.png")]).values()
    assert fetched.reason == "Retry-After 3600 s exceeds the 60 s limit"
    assert fetched.status == 503 and len(httpserver.log) == 1


def test_too_large_by_content_length(httpserver: HTTPServer, policy: FetchPolicy) -> None:
    big = png_bytes(300, 300, (1, 2, 3)) + b"\0" * 4096
    httpserver.expect_request("/big.png").respond_with_data(big, content_type="image/png")
    small = FetchPolicy(max_bytes=2048, read_timeout=2.0)
    [fetched] = fetch_all(ImageFetcher(small, None), [httpserver.url_for("/big.png")]).values()
    assert fetched.reason == "too large: over 2048 bytes" and fetched.data is None
    assert fetched.bytes_transferred < len(big)  # refused from the header, body not read


def test_too_large_while_streaming(httpserver: HTTPServer, png: bytes) -> None:
    httpserver.expect_request("/endless.png").respond_with_handler(chunked(png + b"\0" * 4000, 500))  # ~2 MB
    policy = FetchPolicy(max_bytes=1024 * 1024, read_timeout=2.0)
    [fetched] = fetch_all(ImageFetcher(policy, None), [httpserver.url_for("/endless.png")]).values()
    assert fetched.reason == "too large: over 1.0 MB"
    assert 1024 * 1024 - 100_000 < fetched.bytes_transferred < 1024 * 1024 + 100_000
    assert "Content-Length" not in httpserver.log[0][1].headers


def test_html_is_not_an_image_and_is_not_cached(
    httpserver: HTTPServer, policy: FetchPolicy, tmp_path: Path
) -> None:
    httpserver.expect_request("/p.png").respond_with_data(HTML, content_type="text/html; charset=utf-8")
    cache = ImageCache(tmp_path / "cache")
    url = httpserver.url_for("/p.png")
    [fetched] = fetch_all(ImageFetcher(policy, cache), [url]).values()
    assert fetched.reason == "not an image (Content-Type text/html)" and fetched.status == 200
    assert fetched.data is None and fetched.bytes_transferred == len(HTML)
    assert cache.lookup(url) is None


def test_redirect_is_followed(httpserver: HTTPServer, policy: FetchPolicy, png: bytes) -> None:
    httpserver.expect_request("/old.png").respond_with_data(b"", status=301, headers={"Location": "/new.png"})
    httpserver.expect_request("/new.png").respond_with_data(png, content_type="image/png")
    [fetched] = fetch_all(ImageFetcher(policy, None), [httpserver.url_for("/old.png")]).values()
    assert (fetched.data, fetched.status, fetched.source) == (png, 200, "network")


def test_redirect_loop(httpserver: HTTPServer, policy: FetchPolicy) -> None:
    httpserver.expect_request("/loop.png").respond_with_data(
        b"", status=302, headers={"Location": "/loop.png"}
    )
    [fetched] = fetch_all(ImageFetcher(policy, None), [httpserver.url_for("/loop.png")]).values()
    assert fetched.reason == "too many redirects (> 5)"
    assert len(httpserver.log) == 6  # the request and five redirects


def test_redirect_to_another_scheme_is_refused(httpserver: HTTPServer, policy: FetchPolicy) -> None:
    httpserver.expect_request("/x.png").respond_with_data(
        b"", status=302, headers={"Location": "file:///etc/passwd"}
    )
    [fetched] = fetch_all(ImageFetcher(policy, None), [httpserver.url_for("/x.png")]).values()
    assert fetched.reason is not None and fetched.reason.startswith("unsupported URL scheme")


def test_only_http_urls_are_requested(policy: FetchPolicy) -> None:
    results = fetch_all(
        ImageFetcher(policy, None), ["file:///etc/passwd", "ftp://127.0.0.1/a.png", "not a url"]
    )
    assert all(f.source == "failed" and f.status is None for f in results.values())
    assert "only http and https" in (results[0].reason or "")


def test_a_stalled_response_times_out(
    httpserver: HTTPServer, release_stalled: threading.Event, png: bytes
) -> None:
    httpserver.expect_request("/stall.png").respond_with_handler(
        stalled_after_headers(release_stalled, png[:10])
    )
    policy = FetchPolicy(read_timeout=0.3, retries=0)
    [fetched] = fetch_all(ImageFetcher(policy, None), [httpserver.url_for("/stall.png")]).values()
    assert fetched.reason == "timed out (read)" and fetched.status == 200 and fetched.source == "failed"


def test_connection_refused_is_retried_then_reported(policy: FetchPolicy) -> None:
    with socket.socket() as probe:  # a port that nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    quick = FetchPolicy(retries=1, backoff_seconds=0.01, connect_timeout=2.0)
    fetcher = ImageFetcher(quick, None)
    [fetched] = fetch_all(fetcher, [f"http://127.0.0.1:{port}/a.png"]).values()
    assert fetched.reason is not None and fetched.reason.startswith("connection failed: ")
    assert fetched.reason.endswith("after 2 attempts") and fetcher.stats().retries == 1


def test_per_host_and_overall_limits(httpserver: HTTPServer, second_server: HTTPServer, png: bytes) -> None:
    """Hosts are host:port, so the two servers (two ports of 127.0.0.1) are two hosts."""
    recorder = ConcurrencyRecorder()
    for server in (httpserver, second_server):
        server.expect_request("/slow.png").respond_with_handler(recorder.handler(png, seconds=0.2))
    policy = FetchPolicy(per_host=2, max_in_flight=3, read_timeout=5.0)
    # All of one host first: without the per-host limit the first three would all go to it.
    urls = [server.url_for("/slow.png") for server in (httpserver, second_server) for _ in range(6)]
    results = fetch_all(ImageFetcher(policy, None), urls)
    assert all(f.data == png for f in results.values())
    assert set(recorder.most_per_host.values()) == {2}, recorder.most_per_host  # reached, never passed
    assert recorder.most_overall == 3


def test_slow_consumer_throttles_downloads(httpserver: HTTPServer, png: bytes) -> None:
    recorder = ConcurrencyRecorder()
    httpserver.expect_request("/a.png").respond_with_handler(recorder.handler(png, seconds=0.0))
    policy = FetchPolicy(max_in_flight=2, per_host=2)
    fetcher = ImageFetcher(policy, None, result_buffer=1)
    with contextlib.closing(
        fetcher.fetch((key, httpserver.url_for("/a.png")) for key in range(50))
    ) as results:
        next(results)
        time.sleep(0.5)  # a consumer busy elsewhere
        # Three places (two in flight, one waiting result), one freed by the result taken.
        assert recorder.started <= 4
        assert len(list(results)) == 49
    assert recorder.started == 50


def test_closing_early_cancels_and_joins(httpserver: HTTPServer, png: bytes) -> None:
    recorder = ConcurrencyRecorder()
    httpserver.expect_request("/slow.png").respond_with_handler(recorder.handler(png, seconds=0.3))
    policy = FetchPolicy(max_in_flight=4, per_host=4, read_timeout=5.0)
    results = ImageFetcher(policy, None).fetch((key, httpserver.url_for("/slow.png")) for key in range(40))
    first = next(results)
    assert first.data == png
    assert our_threads()
    results.close()
    assert not our_threads()  # joined before close() returned
    time.sleep(0.5)
    assert recorder.started < 40  # the rest were never requested


def test_breaking_out_of_the_loop_cleans_up(httpserver: HTTPServer, policy: FetchPolicy, png: bytes) -> None:
    httpserver.expect_request("/a.png").respond_with_data(png, content_type="image/png")
    fetcher = ImageFetcher(policy, None)
    for fetched in fetcher.fetch((key, httpserver.url_for("/a.png")) for key in range(30)):
        assert fetched.data == png
        break
    assert not our_threads()


def test_an_error_in_the_requests_reaches_the_caller(
    httpserver: HTTPServer, policy: FetchPolicy, png: bytes
) -> None:
    httpserver.expect_request("/a.png").respond_with_data(png, content_type="image/png")

    def requests() -> object:
        yield 1, httpserver.url_for("/a.png")
        raise LookupError("bad feed row")

    with pytest.raises(LookupError, match="bad feed row"):
        list(ImageFetcher(policy, None).fetch(requests()))  # type: ignore[arg-type]
    assert not our_threads()


def test_an_empty_request_list(policy: FetchPolicy) -> None:
    assert list(ImageFetcher(policy, None).fetch([])) == []
    assert not our_threads()


class TestCache:
    def test_etag_revalidation_transfers_nothing(
        self, httpserver: HTTPServer, policy: FetchPolicy, png: bytes, tmp_path: Path
    ) -> None:
        def handle(request: Request) -> Response:
            if request.headers.get("If-None-Match") == '"v1"':
                return Response(status=304, headers={"ETag": '"v1"'})
            return Response(png, content_type="image/png", headers={"ETag": '"v1"'})

        httpserver.expect_request("/e.png").respond_with_handler(handle)
        fetcher = ImageFetcher(policy, ImageCache(tmp_path))
        url = httpserver.url_for("/e.png")
        [first] = fetch_all(fetcher, [url]).values()
        [second] = fetch_all(fetcher, [url]).values()
        assert (first.source, first.bytes_transferred) == ("network", len(png))
        assert (second.source, second.status, second.bytes_transferred, second.data) == (
            "revalidated",
            304,
            0,
            png,
        )
        assert "If-None-Match" not in httpserver.log[0][0].headers
        assert httpserver.log[1][0].headers["If-None-Match"] == '"v1"'
        stats = fetcher.stats()
        assert (stats.requests, stats.revalidated, stats.bytes_transferred) == (2, 1, len(png))

    def test_last_modified_revalidation(
        self, httpserver: HTTPServer, policy: FetchPolicy, png: bytes, tmp_path: Path
    ) -> None:
        stamp = "Wed, 21 Oct 2015 07:28:00 GMT"

        def handle(request: Request) -> Response:
            if request.headers.get("If-Modified-Since") == stamp:
                return Response(status=304)
            return Response(png, content_type="image/png", headers={"Last-Modified": stamp})

        httpserver.expect_request("/m.png").respond_with_handler(handle)
        fetcher = ImageFetcher(policy, ImageCache(tmp_path))
        url = httpserver.url_for("/m.png")
        fetch_all(fetcher, [url])
        [second] = fetch_all(fetcher, [url]).values()
        assert (second.source, second.bytes_transferred, second.data) == ("revalidated", 0, png)
        assert "If-None-Match" not in httpserver.log[1][0].headers

    def test_changed_content_replaces_the_entry(
        self, httpserver: HTTPServer, policy: FetchPolicy, tmp_path: Path
    ) -> None:
        old, new = png_bytes(colour=(1, 1, 1)), png_bytes(colour=(9, 9, 9))
        httpserver.expect_oneshot_request("/c.png").respond_with_data(old, headers={"ETag": '"v1"'})
        httpserver.expect_request("/c.png").respond_with_data(new, headers={"ETag": '"v2"'})
        cache = ImageCache(tmp_path)
        fetcher = ImageFetcher(policy, cache)
        url = httpserver.url_for("/c.png")
        fetch_all(fetcher, [url])
        [second] = fetch_all(fetcher, [url]).values()
        assert (second.source, second.data) == ("network", new)
        assert httpserver.log[1][0].headers["If-None-Match"] == '"v1"'
        entry = cache.lookup(url)
        assert entry is not None and entry.etag == '"v2"' and cache.read(entry) == new

    def test_no_validator_means_download_again(
        self, httpserver: HTTPServer, policy: FetchPolicy, png: bytes, tmp_path: Path
    ) -> None:
        httpserver.expect_request("/n.png").respond_with_data(png, content_type="image/png")
        fetcher = ImageFetcher(policy, ImageCache(tmp_path))
        url = httpserver.url_for("/n.png")
        fetch_all(fetcher, [url])
        [second] = fetch_all(fetcher, [url]).values()
        assert (second.source, second.bytes_transferred) == ("network", len(png))
        headers = httpserver.log[1][0].headers
        assert "If-None-Match" not in headers and "If-Modified-Since" not in headers

    def test_a_damaged_body_after_304_is_downloaded_again(
        self,
        httpserver: HTTPServer,
        policy: FetchPolicy,
        png: bytes,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        def handle(request: Request) -> Response:
            if request.headers.get("If-None-Match") == '"v1"':
                return Response(status=304)
            return Response(png, content_type="image/png", headers={"ETag": '"v1"'})

        httpserver.expect_request("/d.png").respond_with_handler(handle)
        cache = ImageCache(tmp_path)
        fetcher = ImageFetcher(policy, cache)
        url = httpserver.url_for("/d.png")
        fetch_all(fetcher, [url])
        entry = cache.lookup(url)
        assert entry is not None
        entry.data_path.write_bytes(b"\0" * len(png))  # same size, so lookup still finds it
        [second] = fetch_all(fetcher, [url]).values()
        assert (second.source, second.data, second.bytes_transferred) == ("network", png, len(png))
        assert len(httpserver.log) == 3

    def test_trusting_the_cache_skips_the_request(
        self, httpserver: HTTPServer, png: bytes, tmp_path: Path
    ) -> None:
        httpserver.expect_request("/t.png").respond_with_data(png, headers={"ETag": '"v1"'})
        cache = ImageCache(tmp_path)
        url = httpserver.url_for("/t.png")
        fetch_all(ImageFetcher(FetchPolicy(), cache), [url])
        [second] = fetch_all(ImageFetcher(FetchPolicy(revalidate_cached=False), cache), [url]).values()
        assert (second.source, second.data, second.bytes_transferred, second.status) == (
            "cache",
            png,
            0,
            None,
        )
        assert len(httpserver.log) == 1
