"""One catalog image URL: the cache consulted and revalidated, the bytes downloaded and checked to be
an image before they are used or cached."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

import httpx

from snapbuy.fetching.cache import CachedImage, ImageCache
from snapbuy.fetching.client import url_problem
from snapbuy.fetching.policy import Fetched, FetchPolicy
from snapbuy.fetching.transfer import AttemptSlot, Transfer, download
from snapbuy.imaging import sniff_format

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageResult:
    fetched: Fetched
    retries: int  # extra attempts made for it


async def fetch_image(
    client: httpx.AsyncClient,
    cache: ImageCache | None,
    policy: FetchPolicy,
    key: int,
    url: str,
    slot: AttemptSlot,
) -> ImageResult:
    if (problem := url_problem(url)) is not None:
        return ImageResult(_failed(key, url, problem, Transfer()), 0)
    entry = await asyncio.to_thread(cache.lookup, url) if cache is not None else None
    if entry is not None and cache is not None and not policy.revalidate_cached:
        if (data := await _read_cached(cache, entry)) is not None:
            return ImageResult(Fetched(key, url, data, None, None, 0, "cache"), 0)
        entry = None
    headers = entry.conditional_headers() if entry is not None else {}
    transfer = await download(client, url, policy, max_bytes=policy.max_bytes, headers=headers, slot=slot)
    retries = transfer.attempts - 1
    if transfer.not_modified and entry is not None and headers:
        if (data := await _read_cached(cache, entry)) is not None:
            fetched = Fetched(key, url, data, None, 304, transfer.bytes_transferred, "revalidated")
            return ImageResult(fetched, retries)
        # The cached body went bad after the lookup: ask again without validators.
        again = await download(client, url, policy, max_bytes=policy.max_bytes, slot=slot)
        retries += again.attempts - 1
        transfer = replace(again, bytes_transferred=transfer.bytes_transferred + again.bytes_transferred)
    return ImageResult(await _use_download(cache, key, url, transfer), retries)


async def _use_download(cache: ImageCache | None, key: int, url: str, transfer: Transfer) -> Fetched:
    if transfer.reason is not None:
        return _failed(key, url, transfer.reason, transfer)
    if transfer.body is None:  # a 304 to a request without validators
        return _failed(key, url, f"HTTP {transfer.status}", transfer)
    if sniff_format(transfer.body) is None:
        content_type = (transfer.content_type or "").split(";")[0].strip() or "missing"
        return _failed(key, url, f"not an image (Content-Type {content_type})", transfer)
    if cache is not None:
        try:
            await asyncio.to_thread(cache.store, url, transfer.body, transfer.etag, transfer.last_modified)
        except OSError as exc:  # a full disk costs the cache entry, not the image
            log.warning("could not cache the image of %s: %s", url, exc)
    return Fetched(key, url, transfer.body, None, transfer.status, transfer.bytes_transferred, "network")


async def _read_cached(cache: ImageCache | None, entry: CachedImage) -> bytes | None:
    if cache is None:
        return None
    try:
        return await asyncio.to_thread(cache.read, entry)
    except OSError:
        return None


def _failed(key: int, url: str, reason: str, transfer: Transfer) -> Fetched:
    return Fetched(key, url, None, reason, transfer.status, transfer.bytes_transferred, "failed")
