"""Comma- and tab-separated feeds: the first non-blank row is the header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager

from snapbuy.catalog.fields import normalise_names
from snapbuy.catalog.records import Record, RowError
from snapbuy.errors import CatalogError

REQUIRED_COLUMNS = ("id", "title", "price")


def delimited_records(text: str, name: str, delimiter: str) -> list[Record]:
    """One record per non-blank row after the header; header problems raise CatalogError."""
    rows = read_rows(text, name, delimiter)
    if not rows:
        return []
    (header_line, header), body = rows[0], rows[1:]
    keys = header_keys(header, header_line, name)
    for column in REQUIRED_COLUMNS:
        if column not in keys:
            raise CatalogError(name, header_line, column, f"missing required column '{column}'")
    return [_record(line, header, keys, values) for line, values in body]


def header_keys(header: list[str], line: int, name: str) -> list[str]:
    try:
        return normalise_names(header)
    except ValueError as err:
        raise CatalogError(name, line, "header", f"duplicate column: {err}") from None


def read_rows(text: str, name: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line where the row starts, values) of each row that has a non-blank value."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    with _field_size_limit(len(text) + 1):  # a long field is the row's problem, not the file's
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return rows
            except csv.Error as err:
                kind = "tsv" if delimiter == "\t" else "csv"
                raise CatalogError(name, reader.line_num, "file", f"malformed {kind}: {err}") from None
            # A quoted field may span lines, so the row starts right after the previous row ended.
            line, start = start, reader.line_num + 1
            if any(value.strip() for value in values):  # skip blank rows, common in spreadsheet exports
                rows.append((line, values))


@contextmanager
def _field_size_limit(limit: int) -> Iterator[None]:
    """csv's field size limit is process-wide: raise it for one read and put it back."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, limit))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _record(line: int, header: list[str], keys: list[str], values: list[str]) -> Record:
    raw: dict[str, object] = dict(zip(header, values, strict=False))
    fields: dict[str, object] | RowError = dict(zip(keys, values, strict=False))
    extra = values[len(header) :]
    if any(value.strip() for value in extra):
        raw["_extra"] = extra
        fields = RowError("row", f"{len(values)} values but the header has {len(header)} columns")
    return Record(line, raw, fields)
