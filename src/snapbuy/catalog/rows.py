"""One row's normalised fields -> a Product, or a RowError naming the field that is wrong."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from snapbuy.catalog.availability import parse_availability
from snapbuy.catalog.fields import required, text
from snapbuy.catalog.images import image_refs
from snapbuy.catalog.model import UNCATEGORIZED, ImageBase, Product
from snapbuy.catalog.prices import check_currency, parse_price
from snapbuy.catalog.records import RowError
from snapbuy.catalog.sale_dates import parse_sale_dates

REQUIRED_FIELDS = ("id", "title", "price")
CATEGORY_FIELDS = ("category", "product_type", "google_product_category")
T = TypeVar("T")


def product_from_fields(
    fields: dict[str, object], line: int, images: ImageBase, feed_currency: str | None
) -> Product:
    sku, title = required(fields, "id"), required(fields, "title")
    currency = _row_currency(fields, feed_currency)
    regular = _price(fields, "price", currency)
    if regular is None:
        raise RowError("price", "required value is missing or empty")
    price, code = regular
    sale = _price(fields, "sale_price", code)
    sale_price = sale[0] if sale else None
    if sale_price is not None and sale_price > price:
        raise RowError("sale_price", f"sale price {sale_price:g} is above the regular price {price:g}")
    starts, ends = _checked(parse_sale_dates, fields, "sale_price_effective_date")
    availability = _checked(parse_availability, fields, "availability")
    category = next((c for c in (text(fields, key) for key in CATEGORY_FIELDS) if c), UNCATEGORIZED)
    return Product(
        sku=sku,
        title=title,
        price=price,
        currency=code,
        category=category,
        brand=text(fields, "brand") or None,
        item_group_id=text(fields, "item_group_id") or None,
        link=text(fields, "link") or None,
        images=image_refs(fields, images),
        line=line,
        availability=availability,
        sale_price=sale_price,
        sale_starts=starts,
        sale_ends=ends,
    )


def _checked(parse: Callable[[str], T], fields: dict[str, object], field: str) -> T:
    try:
        return parse(text(fields, field))
    except ValueError as err:
        raise RowError(field, str(err)) from None


def _row_currency(fields: dict[str, object], feed_currency: str | None) -> str | None:
    column = text(fields, "currency")
    if not column:
        return feed_currency
    try:
        code = check_currency(column)
    except ValueError as err:
        raise RowError("currency", str(err)) from None
    if feed_currency and code != feed_currency:
        raise RowError(
            "currency", f"the currency column says {code} but the feed's currency is {feed_currency}"
        )
    return code


def _price(fields: dict[str, object], field: str, currency: str | None) -> tuple[float, str] | None:
    """(amount, currency) of a price field, None when it is empty."""
    value = fields.get(field)
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    written = "" if number is not None else text(fields, field)
    if number is None and not written:
        return None
    try:
        return parse_price(written if number is None else number, currency)
    except ValueError as err:
        raise RowError(field, str(err)) from None


def check_consistent(product: Product, products: Sequence[Product], first_line: dict[str, int]) -> None:
    """A RowError when the product repeats an earlier id or is in another currency than the first."""
    if product.sku in first_line:
        raise RowError("id", f"duplicate id '{product.sku}' (first seen on line {first_line[product.sku]})")
    if products and product.currency != products[0].currency:
        first = products[0]
        raise RowError(
            "currency",
            f"currency {product.currency} differs from the catalog currency {first.currency}"
            f" (set by line {first.line}); a catalog must use one currency",
        )
