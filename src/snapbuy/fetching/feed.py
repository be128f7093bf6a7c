"""A product feed file downloaded whole, synchronously, under the same rules as images."""

from __future__ import annotations

import asyncio

from snapbuy.errors import FetchError
from snapbuy.fetching.client import build_client, url_problem
from snapbuy.fetching.policy import FetchPolicy
from snapbuy.fetching.transfer import Transfer, download


def download_feed(url: str, policy: FetchPolicy, *, max_bytes: int) -> bytes:
    """The body of `url`, at most `max_bytes`, with the policy's timeouts, retries and redirect limit
    (its own max_bytes, meant for images, does not apply). Raises FetchError naming the URL and the
    reason. Runs its own event loop, so call it from synchronous code (not from inside a running loop)."""
    if (problem := url_problem(url)) is not None:
        raise FetchError(f"cannot download the feed {url}: {problem}")
    transfer = asyncio.run(_download(url, policy, max_bytes))
    if transfer.reason is not None or transfer.body is None:
        raise FetchError(f"cannot download the feed {url}: {transfer.reason or f'HTTP {transfer.status}'}")
    return transfer.body


async def _download(url: str, policy: FetchPolicy, max_bytes: int) -> Transfer:
    async with build_client(policy) as client:
        return await download(client, url, policy, max_bytes=max_bytes)
