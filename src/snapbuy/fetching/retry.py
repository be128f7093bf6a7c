"""When to try a download again, and how long to wait first."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from snapbuy.fetching.policy import FetchPolicy

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# The statuses whose Retry-After header is honoured.
RETRY_AFTER_STATUSES = frozenset({429, 503})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), or None when absent or
    unreadable. A date in the past gives 0."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(failed_attempts: int, policy: FetchPolicy) -> float:
    """The wait after `failed_attempts` (1, 2, ...) failures: backoff_seconds doubled per failure, times a
    random factor in [0.5, 1] so that many clients do not retry in step, and never above
    max_retry_after."""
    full = policy.backoff_seconds * 2.0 ** (failed_attempts - 1)
    return min(full * random.uniform(0.5, 1.0), policy.max_retry_after)
