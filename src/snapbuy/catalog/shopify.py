"""Shopify's product CSV export: rows sharing a Handle are one product; each variant becomes a Product.

The first row of a handle carries Title, Vendor, Type and Status; later rows add images (Image Src)
and/or variants (Option values, Variant SKU, Variant Price). Each variant is turned into the
Google-style fields the other formats give, so rows.py reads them the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from snapbuy.catalog.delimited import header_keys, read_rows
from snapbuy.catalog.prices import parse_price
from snapbuy.catalog.records import Record, RowError
from snapbuy.errors import CatalogError

MISSING_CURRENCY = "Shopify exports carry no currency: pass --currency (e.g. --currency USD)"
INACTIVE_STATUSES = ("draft", "archived")
DEFAULT_OPTION_VALUE = "Default Title"  # the value of the only option of a product without variants
OPTION_COUNT = 3


def is_shopify_header(keys: list[str]) -> bool:
    """Whether normalised header names are a Shopify product export's."""
    return "handle" in keys and ("variant_price" in keys or "variant_sku" in keys)


@dataclass
class _Handle:
    first: dict[str, str]  # the row that introduced the handle: Title, Vendor, Type, Status
    images: list[tuple[float, int, str]] = field(default_factory=list)  # (position, order, link)


def shopify_records(text: str, name: str, currency: str | None) -> list[Record]:
    """One record per variant row, at that row's line."""
    if currency is None:
        raise CatalogError(name, 0, "currency", MISSING_CURRENCY)
    rows = read_rows(text, name, ",")
    if not rows:
        return []
    (header_line, header), body = rows[0], rows[1:]
    keys = header_keys(header, header_line, name)
    handles: dict[str, _Handle] = {}
    variants: list[tuple[int, dict[str, object], dict[str, str] | RowError]] = []
    for line, values in body:
        raw: dict[str, object] = dict(zip(header, values, strict=False))
        row = {key: value.strip() for key, value in zip(keys, values, strict=False)}
        handle = row.get("handle", "")
        if not handle:
            variants.append((line, raw, RowError("handle", "required value is missing or empty")))
            continue
        group = handles.setdefault(handle, _Handle(row))
        if row.get("image_src"):
            group.images.append((_position(row), len(group.images), row["image_src"]))
        if any(row.get(key) for key in ("variant_sku", "variant_price", "option1_value")):
            variants.append((line, raw, row))
    return [
        Record(line, raw, row if isinstance(row, RowError) else _fields_or_error(row, handles, currency))
        for line, raw, row in variants
    ]


def _fields_or_error(
    row: dict[str, str], handles: dict[str, _Handle], currency: str
) -> dict[str, object] | RowError:
    try:
        return _variant_fields(row, handles[row["handle"]], currency)
    except RowError as err:
        return err


def _variant_fields(row: dict[str, str], group: _Handle, currency: str) -> dict[str, object]:
    first, handle = group.first, row["handle"]
    status = first.get("status", "").lower()
    if status in INACTIVE_STATUSES:
        raise RowError("status", f"the product's status is {status}: only active products are indexed")
    values = [row.get(f"option{i}_value", "") for i in range(1, OPTION_COUNT + 1)]
    values = [value for value in values if value]
    has_variants = bool(values) and values != [DEFAULT_OPTION_VALUE]
    title = first.get("title", "")
    price, sale_price = _prices(row, currency)
    images = _images(row, group)
    return {
        "id": row.get("variant_sku") or "-".join([handle, *values] if has_variants else [handle]),
        "title": f"{title} - {' / '.join(values)}" if has_variants and title else title,
        "price": price,
        "sale_price": sale_price,
        "currency": currency,
        "brand": first.get("vendor", ""),
        "product_type": first.get("type", ""),
        "google_product_category": first.get("product_category", ""),
        "item_group_id": handle,
        "image_link": images[0] if images else "",
        "additional_image_link": images[1:],
        "availability": _availability(row),
    }


def _prices(row: dict[str, str], currency: str) -> tuple[float, float | None]:
    """(regular price, sale price): a higher Compare At Price is the regular price of a variant on sale."""
    price = _price(row, "variant_price", currency)
    if price is None:
        raise RowError("variant_price", "required value is missing or empty")
    compare_at = _price(row, "variant_compare_at_price", currency)
    if compare_at is not None and compare_at > price:
        return compare_at, price
    return price, None


def _price(row: dict[str, str], key: str, currency: str) -> float | None:
    text = row.get(key, "")
    if not text:
        return None
    try:
        return parse_price(text, currency)[0]
    except ValueError as err:
        raise RowError(key, str(err)) from None


def _availability(row: dict[str, str]) -> str:
    """Out of stock or on backorder when Shopify tracks the stock and none is left; else in stock."""
    if row.get("variant_inventory_tracker", "").lower() != "shopify":
        return "in_stock"
    text = row.get("variant_inventory_qty", "")
    try:
        quantity = int(text or "0")
    except ValueError:
        raise RowError(
            "variant_inventory_qty", f"inventory quantity '{text}' is not a whole number"
        ) from None
    if quantity > 0:
        return "in_stock"
    return "backorder" if row.get("variant_inventory_policy", "").lower() == "continue" else "out_of_stock"


def _images(row: dict[str, str], group: _Handle) -> list[str]:
    """The variant's own image first, then the product's in Image Position order, each once."""
    links = [row.get("variant_image", ""), *(link for _, _, link in sorted(group.images))]
    return list(dict.fromkeys(link for link in links if link))


def _position(row: dict[str, str]) -> float:
    try:
        return float(row.get("image_position") or math.inf)
    except ValueError:
        return math.inf
