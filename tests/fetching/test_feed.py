from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from snapbuy.errors import FetchError
from snapbuy.fetching import FetchPolicy, download_feed

from .helpers import chunked

FEED = b"id,title,price\nA1,Red shoe,499.00 NOK\n"


def test_downloads_a_feed(httpserver: HTTPServer, policy: FetchPolicy) -> None:
    httpserver.expect_oneshot_request("/feed.csv").respond_with_data(b"", status=502)
    httpserver.expect_request("/feed.csv").respond_with_data(FEED, content_type="text/csv")
    assert download_feed(httpserver.url_for("/feed.csv"), policy, max_bytes=1000) == FEED
    assert len(httpserver.log) == 2  # the 502 was retried


def test_404_raises_with_url_and_reason(httpserver: HTTPServer, policy: FetchPolicy) -> None:
    httpserver.expect_request("/feed.csv").respond_with_data(b"no", status=404)
    url = httpserver.url_for("/feed.csv")
    with pytest.raises(FetchError, match=rf"{url}: HTTP 404$") as info:
        download_feed(url, policy, max_bytes=1000)
    assert info.value.exit_code == 9


@pytest.mark.parametrize("streamed", [False, True])
def test_too_large(httpserver: HTTPServer, policy: FetchPolicy, streamed: bool) -> None:
    if streamed:
        httpserver.expect_request("/feed.csv").respond_with_handler(chunked(FEED, 100))
    else:
        httpserver.expect_request("/feed.csv").respond_with_data(FEED * 100)
    with pytest.raises(FetchError, match="too large"):
        download_feed(httpserver.url_for("/feed.csv"), policy, max_bytes=1000)


def test_only_http(policy: FetchPolicy) -> None:
    with pytest.raises(FetchError, match="only http and https"):
        download_feed("file:///etc/passwd", policy, max_bytes=1000)
