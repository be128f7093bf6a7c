"""The HTTP client every download uses, built from a FetchPolicy."""

from __future__ import annotations

import httpx

from snapbuy.fetching.policy import FetchPolicy

ALLOWED_SCHEMES = frozenset({"http", "https"})


def build_client(policy: FetchPolicy) -> httpx.AsyncClient:
    """An AsyncClient with the policy's timeouts, connection count, redirects and User-Agent.

    Bodies are asked for without content coding (Accept-Encoding: identity): images are compressed
    already, and then the size limit counts the same bytes that cross the wire and are held in memory."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=policy.connect_timeout,
            read=policy.read_timeout,
            write=policy.read_timeout,
            # Our own limits keep requests below the pool size; a wait for a connection is a fault.
            pool=policy.connect_timeout,
        ),
        limits=httpx.Limits(
            max_connections=policy.max_in_flight, max_keepalive_connections=policy.max_in_flight
        ),
        follow_redirects=True,
        max_redirects=policy.max_redirects,
        headers={"User-Agent": policy.user_agent, "Accept-Encoding": "identity"},
    )


def url_problem(url: str) -> str | None:
    """Why `url` cannot be downloaded at all, or None when it is an absolute http(s) URL."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        return f"invalid URL: {exc}"
    if parsed.scheme not in ALLOWED_SCHEMES:
        return f"unsupported URL scheme {parsed.scheme or '(none)'!r}: only http and https are fetched"
    if not parsed.host:
        return "invalid URL: no host"
    return None
