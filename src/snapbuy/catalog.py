"""Read a retailer's product feed (CSV, TSV, JSONL with Google Merchant Center names) into products."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from snapbuy.atomic import write_text_file_atomically
from snapbuy.errors import CatalogError

UNCATEGORIZED = "uncategorized"
REQUIRED_COLUMNS = ("id", "title", "price")
CATEGORY_COLUMNS = ("category", "product_type", "google_product_category")
REMOTE_IMAGE_PROBLEM = (
    "remote image URLs are not fetched; download images and use local paths or file:// URLs"
)
_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
_UTF8_BOM = b"\xef\xbb\xbf"
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
# Applied to the upper-cased text: optional currency before or after a plain decimal number.
_PRICE_RE = re.compile(r"(?:(?P<pre>[A-Z]{3})\s*)?(?P<num>[+-]?\d+(?:\.\d+)?)(?:\s*(?P<post>[A-Z]{3}))?")


@dataclass(frozen=True, slots=True)
class ImageRef:
    link: str
    path: Path | None
    problem: str | None


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    title: str
    price: float
    currency: str
    category: str
    brand: str | None
    item_group_id: str | None
    link: str | None
    images: tuple[ImageRef, ...]
    line: int
    availability: str = "in_stock"  # in_stock, out_of_stock, preorder or backorder
    sale_price: float | None = None
    sale_starts: datetime | None = None  # the sale's effective window, [starts, ends); None = open
    sale_ends: datetime | None = None

    def sale_active(self, at: datetime) -> bool:
        """Whether the sale price applies at `at`."""
        if self.sale_price is None:
            return False
        started = self.sale_starts is None or self.sale_starts <= at
        return started and (self.sale_ends is None or at < self.sale_ends)

    def price_paid(self, at: datetime) -> float:
        """The price the shopper pays at `at`: the sale price while the sale is on, else the price."""
        return self.sale_price if self.sale_price is not None and self.sale_active(at) else self.price


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    field: str
    reason: str
    row: dict[str, object]


@dataclass(frozen=True, slots=True)
class Catalog:
    path: Path
    products: tuple[Product, ...]
    rejects: tuple[RejectedRow, ...]
    currency: str
    sha256: str


class _RowError(Exception):
    """A problem with one row; read_catalog turns it into a CatalogError or a RejectedRow."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# (line where the row starts, raw row as read, normalised fields or the reason the row is unusable)
_Record = tuple[int, dict[str, object], dict[str, object] | _RowError]


def parse_price(text: str | int | float, currency: str | None = None) -> tuple[float, str]:
    """Parse '1299.00 NOK', 'NOK 1299', or a bare number plus `currency`; ValueError says why not."""
    column = _check_currency(currency) if currency and currency.strip() else None
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"price must be text or a number, not {type(text).__name__}")
    written: str | None = None
    if isinstance(text, str):
        match = _PRICE_RE.fullmatch(text.strip().upper())
        if match is None or (match["pre"] and match["post"]):
            raise ValueError(
                f"unparsable price '{text}': use a decimal point and no thousands separators,"
                " e.g. '1299.00 NOK'"
            )
        written = match["pre"] or match["post"]
        text = match["num"]
    try:
        value = float(text)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise ValueError(f"price '{text}' is not a finite number")
    if math.copysign(1.0, value) < 0:
        raise ValueError(f"negative price '{text}'")
    if written and column and written != column:
        raise ValueError(f"price is in {written} but the currency column says {column}")
    code = written or column
    if code is None:
        raise ValueError(f"price '{text}' has no currency: write '1299.00 NOK' or add a currency column")
    return value, code


def _check_currency(code: str) -> str:
    upper = code.strip().upper()
    if not _CURRENCY_RE.fullmatch(upper):
        raise ValueError(f"invalid currency '{code}': expected a 3-letter ISO 4217 code such as 'NOK'")
    return upper


def read_catalog(path: Path, *, skip_invalid: bool = False) -> Catalog:
    """Read and validate a feed; bad rows raise CatalogError, or become rejects with skip_invalid."""
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in _DELIMITERS and suffix not in _JSONL_SUFFIXES:
        raise CatalogError(name, 0, "file", f"unknown feed format '{suffix}': use .csv, .tsv, .txt or .jsonl")
    data = _read_bytes(path)
    text = _decode(data, name)
    records = _jsonl_records(text) if suffix in _JSONL_SUFFIXES else _csv_records(text, name, suffix)
    base = path.absolute().parent  # relative image paths are relative to the feed file
    products: list[Product] = []
    rejects: list[RejectedRow] = []
    first_line: dict[str, int] = {}
    for line, raw, fields in records:
        try:
            if isinstance(fields, _RowError):
                raise fields
            product = _product(fields, line, base)
            _check_consistent(product, products, first_line)
        except _RowError as err:
            if not skip_invalid:
                raise CatalogError(name, line, err.field, err.reason) from None
            rejects.append(RejectedRow(line, err.field, err.reason, raw))
            continue
        first_line[product.sku] = line
        products.append(product)
    if not products:
        raise CatalogError(name, 0, "file", _no_products_reason(rejects))
    sha = hashlib.sha256(data).hexdigest()
    return Catalog(path, tuple(products), tuple(rejects), products[0].currency, sha)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CatalogError(str(path), 0, "file", "file not found") from None
    except OSError as err:
        raise CatalogError(str(path), 0, "file", f"cannot read file: {err.strerror or err}") from None


def _decode(data: bytes, name: str) -> str:
    body = data.removeprefix(_UTF8_BOM)  # stripped by hand so error offsets stay byte-exact
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        line = body.count(b"\n", 0, err.start) + 1
        raise CatalogError(name, line, "file", "not valid UTF-8; save the feed as UTF-8") from None


def _no_products_reason(rejects: Sequence[RejectedRow]) -> str:
    if not rejects:
        return "no valid products: the feed has no rows"
    first = rejects[0]
    return (
        f"no valid products: all {len(rejects)} rows were rejected"
        f" (first: line {first.line}, field '{first.field}': {first.reason})"
    )


def _csv_records(text: str, name: str, suffix: str) -> Iterator[_Record]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_DELIMITERS[suffix])
    header: list[str] | None = None
    start = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise CatalogError(name, reader.line_num, "file", f"malformed {suffix[1:]}: {err}") from None
        # A quoted field may span lines, so the row starts right after the previous row ended.
        line, start = start, reader.line_num + 1
        if not any(value.strip() for value in values):
            continue  # blank or all-empty rows, common at the end of spreadsheet exports
        if header is None:
            header = _header(values, line, name)
            continue
        raw: dict[str, object] = dict(zip(header, values, strict=False))
        fields: dict[str, object] | _RowError = {key.strip().lower(): value for key, value in raw.items()}
        extra = values[len(header) :]
        if any(value.strip() for value in extra):
            raw["_extra"] = extra
            fields = _RowError("row", f"{len(values)} values but the header has {len(header)} columns")
        yield line, raw, fields


def _header(values: list[str], line: int, name: str) -> list[str]:
    keys = [value.strip().lower() for value in values]
    for column in REQUIRED_COLUMNS:
        if column not in keys:
            raise CatalogError(name, line, column, f"missing required column '{column}'")
    for key in keys:
        if key and keys.count(key) > 1:
            raise CatalogError(name, line, key, "duplicate column in header")
    return values


def _jsonl_records(text: str) -> Iterator[_Record]:
    # split on '\n' only: str.splitlines would also split on U+2028, which JSON strings may hold
    for line, chunk in enumerate(text.split("\n"), start=1):
        if not chunk.strip():
            continue
        try:
            value = json.loads(chunk)
        except json.JSONDecodeError as err:
            yield line, {"raw": chunk}, _RowError("row", f"invalid JSON: {err.msg} at column {err.colno}")
            continue
        if not isinstance(value, dict):
            reason = f"expected a JSON object, got {type(value).__name__}"
            yield line, {"raw": value}, _RowError("row", reason)
            continue
        yield line, value, {str(key).strip().lower(): item for key, item in value.items()}


def _text(fields: dict[str, object], key: str) -> str:
    value = fields.get(key)
    if value is None:
        return ""
    if isinstance(value, bool | list | dict):
        raise _RowError(key, f"expected text, got {type(value).__name__}")
    return str(value).strip()


def _required(fields: dict[str, object], key: str) -> str:
    value = _text(fields, key)
    if not value:
        raise _RowError(key, "required value is missing or empty")
    return value


def _product(fields: dict[str, object], line: int, base: Path) -> Product:
    sku, title = _required(fields, "id"), _required(fields, "title")
    raw_price = fields.get("price")
    price_in = raw_price if isinstance(raw_price, int | float) and not isinstance(raw_price, bool) else None
    price_text = "" if price_in is not None else _required(fields, "price")
    column = _text(fields, "currency")
    try:
        currency = _check_currency(column) if column else None
    except ValueError as err:
        raise _RowError("currency", str(err)) from None
    try:
        price, code = parse_price(price_text if price_in is None else price_in, currency)
    except ValueError as err:
        raise _RowError("price", str(err)) from None
    category = next((c for c in (_text(fields, key) for key in CATEGORY_COLUMNS) if c), UNCATEGORIZED)
    return Product(
        sku=sku,
        title=title,
        price=price,
        currency=code,
        category=category,
        brand=_text(fields, "brand") or None,
        item_group_id=_text(fields, "item_group_id") or None,
        link=_text(fields, "link") or None,
        images=tuple(_resolve_image(link, base) for link in _image_links(fields)),
        line=line,
    )


def _check_consistent(product: Product, products: Sequence[Product], first_line: dict[str, int]) -> None:
    if product.sku in first_line:
        raise _RowError("id", f"duplicate id '{product.sku}' (first seen on line {first_line[product.sku]})")
    if products and product.currency != products[0].currency:
        first = products[0]
        raise _RowError(
            "currency",
            f"currency {product.currency} differs from the catalog currency {first.currency}"
            f" (set by line {first.line}); a catalog must use one currency",
        )


def _image_links(fields: dict[str, object]) -> list[str]:
    """image_link first, then additional_image_link (a JSON list or GMC's comma-separated text)."""
    extra = fields.get("additional_image_link")
    if isinstance(extra, list):
        if not all(isinstance(item, str) for item in extra):
            raise _RowError("additional_image_link", "expected a list of strings")
        items = [str(item) for item in extra]
    else:
        items = _text(fields, "additional_image_link").split(",")
    links = [_text(fields, "image_link"), *(item.strip() for item in items)]
    return [link for link in links if link]


def _resolve_image(link: str, base: Path) -> ImageRef:
    parts = urlsplit(link)
    scheme = parts.scheme.lower()
    if len(scheme) <= 1:  # plain path; a one-letter "scheme" is a Windows drive like 'C:\'
        return ImageRef(link, base / link, None)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return ImageRef(link, None, f"file:// URL on another host '{parts.netloc}' is not supported")
        return ImageRef(link, base / url2pathname(parts.path), None)
    if scheme in ("http", "https"):
        return ImageRef(link, None, REMOTE_IMAGE_PROBLEM)
    return ImageRef(link, None, f"unsupported URL scheme '{scheme}'")


def write_rejects(rejects: Sequence[RejectedRow], path: Path) -> None:
    """Write rejects as CSV (line, field, reason, row as compact JSON), atomically."""

    def write(handle: TextIO) -> None:
        writer = csv.writer(handle)
        writer.writerow(["line", "field", "reason", "row"])
        for reject in rejects:
            row_json = json.dumps(reject.row, ensure_ascii=False, separators=(",", ":"), default=str)
            writer.writerow([reject.line, reject.field, reject.reason, row_json])

    write_text_file_atomically(path, write)
