"""JSON Lines feeds: one JSON object per line, keys named like CSV columns."""

from __future__ import annotations

import json

from snapbuy.catalog.fields import normalise_names
from snapbuy.catalog.records import Record, RowError


def jsonl_records(text: str) -> list[Record]:
    records: list[Record] = []
    # split on '\n' only: str.splitlines would also split on U+2028, which JSON strings may hold
    for line, chunk in enumerate(text.split("\n"), start=1):
        if chunk.strip():
            records.append(_record(line, chunk))
    return records


def _record(line: int, chunk: str) -> Record:
    try:
        value = json.loads(chunk)
    except json.JSONDecodeError as err:
        return Record(line, {"raw": chunk}, RowError("row", f"invalid JSON: {err.msg} at column {err.colno}"))
    if not isinstance(value, dict):
        return Record(
            line, {"raw": value}, RowError("row", f"expected a JSON object, got {type(value).__name__}")
        )
    try:
        keys = normalise_names(str(key) for key in value)
    except ValueError as err:
        return Record(line, value, RowError("row", f"duplicate key: {err}"))
    return Record(line, value, dict(zip(keys, value.values(), strict=True)))
