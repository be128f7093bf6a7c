"""What every format's reader yields: one record per product row, or the reason the row is unusable."""

from __future__ import annotations

from dataclasses import dataclass


class RowError(Exception):
    """A problem with one row; the reader turns it into a CatalogError, or a RejectedRow when skipping."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Record:
    line: int  # where the row starts (an XML item's start tag)
    raw: dict[str, object]  # the row as read, for rejects.csv
    fields: dict[str, object] | RowError  # normalised names (fields.normalise_name) to values
