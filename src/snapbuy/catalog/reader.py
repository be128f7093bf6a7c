"""read_catalog (a local feed file) and parse_feed (a feed's bytes): formats in, validated products out."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from snapbuy.catalog.delimited import delimited_records
from snapbuy.catalog.detect import UTF8_BOM, decompress, detect_format
from snapbuy.catalog.jsonl import jsonl_records
from snapbuy.catalog.model import Catalog, ImageBase, Product, RejectedRow
from snapbuy.catalog.prices import check_currency
from snapbuy.catalog.records import Record, RowError
from snapbuy.catalog.rows import check_consistent, product_from_fields
from snapbuy.catalog.shopify import shopify_records
from snapbuy.catalog.xml_feed import xml_records
from snapbuy.errors import CatalogError


def read_catalog(
    path: Path,
    *,
    skip_invalid: bool = False,
    feed_format: str | None = None,
    currency: str | None = None,
    image_root: Path | None = None,
) -> Catalog:
    """Read and validate a local feed file; relative image paths are inside image_root or its folder."""
    data = read_regular_file(path)
    images = ImageBase(folder=image_root or path.absolute().parent, url=None)
    return parse_feed(
        data,
        source=str(path),
        images=images,
        skip_invalid=skip_invalid,
        feed_format=feed_format,
        currency=currency,
    )


def read_regular_file(path: Path) -> bytes:
    """The file's bytes; CatalogError for a missing file or one that is not regular (FIFO, device, folder)."""
    name = str(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise CatalogError(name, 0, "file", "file not found") from None
    except OSError as err:
        raise CatalogError(name, 0, "file", f"cannot open file: {err.strerror or err}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CatalogError(name, 0, "file", "not a regular file (a folder, FIFO or device)")
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        try:
            return handle.read()
        except OSError as err:
            raise CatalogError(name, 0, "file", f"cannot read file: {err.strerror or err}") from None


def parse_feed(
    data: bytes,
    *,
    source: str,
    images: ImageBase,
    skip_invalid: bool = False,
    feed_format: str | None = None,
    currency: str | None = None,
) -> Catalog:
    """Validate a feed's bytes; bad rows raise CatalogError, or become rejects with skip_invalid."""
    try:
        feed_currency = check_currency(currency) if currency is not None else None
    except ValueError as err:
        raise CatalogError(source, 0, "currency", str(err)) from None
    body = decompress(data, source)
    kind = detect_format(body, source, feed_format)
    records = _records(body, source, kind, feed_currency)
    products: list[Product] = []
    rejects: list[RejectedRow] = []
    first_line: dict[str, int] = {}
    for record in records:
        try:
            if isinstance(record.fields, RowError):
                raise record.fields
            product = product_from_fields(record.fields, record.line, images, feed_currency)
            check_consistent(product, products, first_line)
        except RowError as err:
            if not skip_invalid:
                raise CatalogError(source, record.line, err.field, err.reason) from None
            rejects.append(RejectedRow(record.line, err.field, err.reason, record.raw))
            continue
        first_line[product.sku] = record.line
        products.append(product)
    if not products:
        raise CatalogError(source, 0, "file", _no_products_reason(rejects))
    sha = hashlib.sha256(data).hexdigest()
    return Catalog(source, tuple(products), tuple(rejects), products[0].currency, sha, kind)


def _records(body: bytes, source: str, kind: str, currency: str | None) -> list[Record]:
    if kind == "xml":
        return xml_records(body, source)
    text = _decode(body, source)
    if kind == "jsonl":
        return jsonl_records(text)
    if kind == "shopify":
        return shopify_records(text, source, currency)
    return delimited_records(text, source, "\t" if kind == "tsv" else ",")


def _decode(data: bytes, name: str) -> str:
    body = data.removeprefix(UTF8_BOM)  # stripped by hand so error offsets stay byte-exact
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
