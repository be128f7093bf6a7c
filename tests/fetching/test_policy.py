from __future__ import annotations

import pytest

from snapbuy import __version__
from snapbuy.fetching import Fetched, FetchPolicy


def test_defaults() -> None:
    policy = FetchPolicy()
    assert policy.max_bytes == 20 * 1024 * 1024
    assert (policy.per_host, policy.max_in_flight, policy.retries, policy.max_redirects) == (8, 64, 3, 5)
    assert policy.user_agent == f"snapbuy/{__version__} (catalog indexer)"
    assert policy.revalidate_cached


@pytest.mark.parametrize(
    "field, value",
    [("max_bytes", 0), ("per_host", 0), ("max_in_flight", 0), ("read_timeout", 0.0), ("retries", -1)],
)
def test_nonsense_limits_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        FetchPolicy(**{field: value})  # type: ignore[arg-type]


def test_repr_never_shows_image_bytes() -> None:
    fetched = Fetched(1, "http://x/a.png", b"\x89PNG-secret-pixels", None, 200, 18, "network")
    text = repr(fetched)
    assert "secret" not in text and "<18 bytes>" in text
