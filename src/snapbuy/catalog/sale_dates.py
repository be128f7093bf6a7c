"""sale_price_effective_date: an ISO 8601 interval 'start/end' where either side may be empty."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_sale_dates(text: str) -> tuple[datetime | None, datetime | None]:
    """(starts, ends), timezone-aware (a time without an offset is UTC); ValueError says what is wrong."""
    if not text.strip():
        return None, None
    start_text, slash, end_text = text.strip().partition("/")
    if not slash:
        raise ValueError(f"sale date range '{text}' needs a '/' between start and end (either may be empty)")
    starts, ends = _moment(start_text, text), _moment(end_text, text)
    if starts is not None and ends is not None and ends <= starts:
        raise ValueError(f"sale date range '{text}' ends before it starts")
    return starts, ends


def _moment(text: str, whole: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"sale date '{text.strip()}' in '{whole}' is not an ISO 8601 date or time,"
            " e.g. 2026-02-24T11:00+01:00"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
