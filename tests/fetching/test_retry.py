from __future__ import annotations

from datetime import UTC, datetime

import pytest

from snapbuy.fetching import FetchPolicy
from snapbuy.fetching.retry import backoff_delay, parse_retry_after

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "header, seconds",
    [
        ("1", 1.0),
        (" 120 ", 120.0),
        ("Sat, 01 Mar 2025 12:00:30 GMT", 30.0),
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),  # in the past: no wait
        (None, None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # delay-seconds is a whole number
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = FetchPolicy(backoff_seconds=0.5, max_retry_after=3.0)
    for failures, full in [(1, 0.5), (2, 1.0), (3, 2.0)]:
        for _ in range(20):
            assert full / 2 <= backoff_delay(failures, policy) <= full
    assert backoff_delay(10, policy) <= 3.0
