"""One URL's body over HTTP, within a size limit, with retries: the part shared by images and feeds.

Failures come back as values with a short reason (see docs/fetching.md), never as exceptions, so that
one bad URL in a catalog is one failed row."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace

import httpx

from snapbuy.fetching.policy import FetchPolicy
from snapbuy.fetching.retry import RETRY_AFTER_STATUSES, RETRY_STATUSES, backoff_delay, parse_retry_after

_MB = 1024 * 1024
_TIMEOUT_PHASES: dict[type[httpx.TimeoutException], str] = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}

# Held around each attempt (not around the waits between them): the concurrency limits.
AttemptSlot = Callable[[], AbstractAsyncContextManager[object]]


@dataclass(frozen=True)
class Transfer:
    """What one URL gave: a body (2xx), "not modified" (304), or a failure reason."""

    status: int | None = None
    body: bytes | None = None
    reason: str | None = None
    bytes_transferred: int = 0
    attempts: int = 1
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retryable: bool = False
    retry_after: float | None = None  # seconds, from a 429 or 503's Retry-After

    @property
    def not_modified(self) -> bool:
        return self.status == 304 and self.reason is None


def too_large_reason(max_bytes: int) -> str:
    """The reason for a body over the limit: "too large: over 20.0 MB", or in bytes under 0.1 MB."""
    limit = f"{max_bytes / _MB:.1f} MB" if max_bytes >= _MB // 10 else f"{max_bytes} bytes"
    return f"too large: over {limit}"


async def download(
    client: httpx.AsyncClient,
    url: str,
    policy: FetchPolicy,
    *,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    slot: AttemptSlot = contextlib.nullcontext,
) -> Transfer:
    """GET `url`, trying again per the policy on 429, 5xx, connect errors and timeouts. A reason of a
    failure after several attempts ends in "after N attempts"."""
    request_headers = dict(headers or {})
    async with slot():
        result = await _attempt(client, url, request_headers, max_bytes)
    transferred = result.bytes_transferred
    attempts = 1
    while result.retryable and attempts <= policy.retries:
        if result.retry_after is not None and result.retry_after > policy.max_retry_after:
            too_long = (
                f"Retry-After {result.retry_after:.0f} s exceeds the {policy.max_retry_after:g} s limit"
            )
            return replace(result, reason=too_long, bytes_transferred=transferred, attempts=attempts)
        await asyncio.sleep(
            backoff_delay(attempts, policy) if result.retry_after is None else result.retry_after
        )
        async with slot():
            result = await _attempt(client, url, request_headers, max_bytes)
        transferred += result.bytes_transferred
        attempts += 1
    reason = result.reason
    if result.reason is not None and attempts > 1:
        reason = f"{result.reason} after {attempts} attempts"
    return replace(result, reason=reason, bytes_transferred=transferred, attempts=attempts)


async def _attempt(client: httpx.AsyncClient, url: str, headers: dict[str, str], max_bytes: int) -> Transfer:
    try:
        async with client.stream("GET", url, headers=headers) as response:
            try:
                return await _read_response(response, max_bytes)
            except httpx.RequestError as exc:
                failed = _request_failure(exc, client)
                return replace(
                    failed, status=response.status_code, bytes_transferred=response.num_bytes_downloaded
                )
    except httpx.RequestError as exc:
        return _request_failure(exc, client)


async def _read_response(response: httpx.Response, max_bytes: int) -> Transfer:
    status = response.status_code
    head = Transfer(
        status=status,
        content_type=response.headers.get("Content-Type"),
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )
    if status == 304:
        return head
    if not 200 <= status < 300:
        retry_after = None
        if status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return replace(
            head, reason=f"HTTP {status}", retryable=status in RETRY_STATUSES, retry_after=retry_after
        )
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        return replace(head, reason=too_large_reason(max_bytes))
    body = bytearray()
    # A server may lie in Content-Length or send none (chunked), so the bytes are counted as they come.
    async for chunk in response.aiter_bytes():
        if len(body) + len(chunk) > max_bytes:
            return replace(
                head, reason=too_large_reason(max_bytes), bytes_transferred=response.num_bytes_downloaded
            )
        body += chunk
    return replace(head, body=bytes(body), bytes_transferred=response.num_bytes_downloaded)


def _request_failure(exc: httpx.RequestError, client: httpx.AsyncClient) -> Transfer:
    if isinstance(exc, httpx.TooManyRedirects):
        return Transfer(reason=f"too many redirects (> {client.max_redirects})")
    if isinstance(exc, httpx.TimeoutException):
        return Transfer(reason=f"timed out ({_TIMEOUT_PHASES.get(type(exc), 'other')})", retryable=True)
    if isinstance(exc, httpx.ConnectError):
        return Transfer(reason=f"connection failed: {_describe(exc)}", retryable=True)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return Transfer(reason=f"unsupported URL scheme: {_describe(exc)}")
    return Transfer(reason=f"transfer failed: {_describe(exc)}")


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
