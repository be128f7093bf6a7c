"""A feed CSV as rows of dicts, read and written back: tests that derive one catalog from another."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path


def read_rows(catalog: Path) -> list[dict[str, str]]:
    with catalog.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_rows(catalog: Path, rows: Sequence[dict[str, str]]) -> None:
    """The rows as a CSV with a header: every key any row has, in the order first seen."""
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with catalog.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
