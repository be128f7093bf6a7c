"""Row fields -> Product: availability, sale prices and dates, currency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from snapbuy.catalog import AVAILABILITIES, ImageBase, Product
from snapbuy.catalog.records import RowError
from snapbuy.catalog.rows import product_from_fields

BASE = ImageBase(folder=None, url="https://shop.example/feed")


def _product(**fields: object) -> Product:
    """A product of the feed currency NOK from `fields` over a valid row."""
    return product_from_fields({"id": "a", "title": "t", "price": "100 NOK", **fields}, 2, BASE, "NOK")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("", "in_stock"),
        ("in_stock", "in_stock"),
        ("In Stock", "in_stock"),
        ("out of stock", "out_of_stock"),
        ("OUT_OF_STOCK", "out_of_stock"),
        ("preorder", "preorder"),
        ("pre-order", "preorder"),
        ("backorder", "backorder"),
        ("available for order", "backorder"),
    ],
)
def test_availability_spellings(written: str, expected: str) -> None:
    assert _product(availability=written).availability == expected
    assert expected in AVAILABILITIES


def test_unknown_availability_lists_the_accepted_values() -> None:
    with pytest.raises(RowError) as info:
        _product(availability="maybe")
    assert info.value.field == "availability"
    assert (
        "unknown availability 'maybe': use one of in_stock, out_of_stock, preorder, backorder"
        in info.value.reason
    )


def test_sale_price_and_its_window() -> None:
    product = _product(sale_price="80 NOK", sale_price_effective_date="2026-03-01T00:00+01:00/2026-03-08")
    assert (product.price, product.sale_price) == (100.0, 80.0)
    assert product.sale_starts == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert product.sale_ends == datetime(2026, 3, 8, tzinfo=UTC)  # no offset: UTC
    oslo = timezone(timedelta(hours=1))
    assert not product.sale_active(datetime(2026, 2, 28, 23, 59, tzinfo=oslo))
    assert product.sale_active(datetime(2026, 3, 1, 0, 0, tzinfo=oslo))
    assert product.price_paid(datetime(2026, 3, 5, tzinfo=UTC)) == 80.0
    assert product.price_paid(datetime(2026, 3, 8, tzinfo=UTC)) == 100.0  # the end is exclusive
    with pytest.raises(ValueError, match="timezone-aware"):
        product.sale_active(datetime(2026, 3, 5))


def test_open_ended_sale_windows() -> None:
    always = _product(sale_price="80")
    assert always.sale_active(datetime(1990, 1, 1, tzinfo=UTC)) and always.sale_starts is None
    from_march = _product(sale_price="80", sale_price_effective_date="2026-03-01/")
    assert (from_march.sale_ends, from_march.sale_active(datetime(2030, 1, 1, tzinfo=UTC))) == (None, True)
    until_march = _product(sale_price="80", sale_price_effective_date="/2026-03-01")
    assert not until_march.sale_active(datetime(2026, 3, 1, tzinfo=UTC))
    assert _product().price_paid(datetime(2026, 3, 1, tzinfo=UTC)) == 100.0


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"sale_price": "120 NOK"}, "sale_price", "sale price 120 is above the regular price 100"),
        ({"sale_price": "80 EUR"}, "sale_price", "is in EUR but the feed's currency is NOK"),
        ({"sale_price": "-1"}, "sale_price", "negative price"),
        (
            {"sale_price": "80", "sale_price_effective_date": "2026-13-01/"},
            "sale_price_effective_date",
            "'2026-13-01'",
        ),
        (
            {"sale_price": "80", "sale_price_effective_date": "2026-03-01"},
            "sale_price_effective_date",
            "needs a '/'",
        ),
        ({"sale_price_effective_date": "2026-03-02/2026-03-01"}, "sale_price_effective_date", "ends before"),
        ({"currency": "EUR"}, "currency", "the currency column says EUR but the feed's currency is NOK"),
    ],
)
def test_row_errors(fields: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(RowError) as info:
        _product(**fields)
    assert info.value.field == field
    assert reason in info.value.reason


def test_sale_price_takes_the_regular_prices_currency() -> None:
    product = product_from_fields({"id": "a", "title": "t", "price": "€10", "sale_price": "8"}, 2, BASE, None)
    assert (product.currency, product.sale_price) == ("EUR", 8.0)
