"""Who may call the API and how often: optional API keys (kept only as SHA-256 hashes, each named),
and a token bucket per key (or per client address when there are no keys) answering 429 with
Retry-After. A pure ASGI middleware, so uploads stream through it untouched."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from snapbuy.api.asgi_errors import send_json_error
from snapbuy.errors import InvalidParameterError

# Health checks and the metrics scrape stay open: orchestrators and Prometheus hold no API key. So do
# the phone page and its two files (api/phone_page.py): a browser loads them before it holds a key.
OPEN_PATHS = frozenset({"/livez", "/readyz", "/metrics", "/", "/page/app.js", "/page/style.css"})
# At most this many clients' buckets are kept; the least recently seen are forgotten first.
MAX_BUCKETS = 100_000

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (256 bits, URL-safe)."""
    return "sb_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str


def parse_api_keys(entries: Sequence[str]) -> list[ApiKey]:
    """`NAME:SHA256HEX` entries; a malformed one is a clear error at start, never a silently open API."""
    keys: list[ApiKey] = []
    for entry in entries:
        name, _, digest = entry.partition(":")
        digest = digest.strip().lower()
        if not name.strip() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InvalidParameterError(
                "SNAPBUY_API_KEYS entries must be NAME:SHA256 (64 hex digits), as `snapbuy api-key NAME` "
                f"prints them; got {entry[:20]!r}..."
            )
        keys.append(ApiKey(name.strip(), digest))
    return keys


@dataclass
class TokenBucket:
    """`rate` tokens a second up to `burst`; take() answers 0 when a request may go, else the wait."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self, now: float) -> float:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def wait_for(self, client: str) -> float:
        """0 when `client` may go now, else the seconds until it may."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.pop(client, None) or TokenBucket(self.rate, self.burst, stamp=now)
            self._buckets[client] = bucket  # re-inserted: dict order is least recently seen first
            if len(self._buckets) > MAX_BUCKETS:
                del self._buckets[next(iter(self._buckets))]
            return bucket.take(now)


class AccessControl:
    """ASGI middleware: API keys when any are configured, rate limits when a rate is set."""

    def __init__(self, app: Any, keys: Sequence[ApiKey], limiter: RateLimiter | None) -> None:
        self.app, self.keys, self.limiter = app, list(keys), limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = (scope.get("client") or ("unknown", 0))[0]
        if self.keys:
            name = self._key_name(headers)
            if name is None:
                await send_json_error(
                    send, 401, "unauthorized", "a valid API key is required", {"www-authenticate": "Bearer"}
                )
                return
            client = f"key:{name}"
        if self.limiter is not None and (wait := self.limiter.wait_for(client)) > 0:
            seconds = str(max(1, math.ceil(wait)))
            await send_json_error(
                send,
                429,
                "rate_limited",
                f"too many requests; retry in {seconds} s",
                {"retry-after": seconds},
            )
            return
        await self.app(scope, receive, send)

    def _key_name(self, headers: dict[str, str]) -> str | None:
        given = headers.get("x-api-key") or ""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if not given and scheme.lower() == "bearer":
            given = token.strip()
        if not given:
            return None
        digest = hash_key(given)
        found = None
        for key in self.keys:  # every key compared, in constant time, whichever matches
            if hmac.compare_digest(digest, key.sha256):
                found = key.name
        return found
