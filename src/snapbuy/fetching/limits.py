"""How many requests may run at once: per host and overall."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_key(url: str) -> str:
    """The key of the per-host limit: host and port of the requested URL (the scheme's default port when
    none is written). So 127.0.0.1 and localhost are two hosts, and so are two ports of one machine."""
    parsed = httpx.URL(url)
    port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme, 0)
    return f"{parsed.host}:{port}"


class ConcurrencyLimits:
    """At most `per_host` requests to one host and `overall` in all. Build it inside the event loop that
    uses it. A request's redirects count against the host it was first sent to."""

    def __init__(self, per_host: int, overall: int) -> None:
        self._per_host = per_host
        self._overall = asyncio.Semaphore(overall)
        self._hosts: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Hold one request's place. The host's limit is taken first, so a request waiting for a busy
        host does not keep a place of the overall limit from requests to other hosts."""
        key = host_key(url)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = asyncio.Semaphore(self._per_host)
        async with host, self._overall:
            yield
