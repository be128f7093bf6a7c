from __future__ import annotations

import pytest

from snapbuy.catalog import parse_price


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("1299.00 NOK", None, (1299.0, "NOK")),
        ("1299 NOK", None, (1299.0, "NOK")),
        ("NOK 1299.00", None, (1299.0, "NOK")),
        ("  12.5nok ", None, (12.5, "NOK")),
        ("1,299.00 USD", None, (1299.0, "USD")),
        ("USD 1299", None, (1299.0, "USD")),
        ("$15.00", None, (15.0, "USD")),
        ("$15.00", "CAD", (15.0, "CAD")),
        ("$15.00", "aud", (15.0, "AUD")),
        ("€5,50", None, (5.5, "EUR")),
        ("£1,000.50", None, (1000.5, "GBP")),
        ("₹ 100", "INR", (100.0, "INR")),
        ("1 299,00 kr", "NOK", (1299.0, "NOK")),
        ("1 299,00 kr", "SEK", (1299.0, "SEK")),
        ("¥100", "JPY", (100.0, "JPY")),
        ("1299.00", "NOK", (1299.0, "NOK")),
        ("1299.00", " sek ", (1299.0, "SEK")),
        ("1299.00 NOK", "nok", (1299.0, "NOK")),
        (1299, "NOK", (1299.0, "NOK")),
        (12.5, "EUR", (12.5, "EUR")),
        ("0 USD", None, (0.0, "USD")),
    ],
)
def test_parse_price_valid(
    text: str | int | float, currency: str | None, expected: tuple[float, str]
) -> None:
    assert parse_price(text, currency) == expected


@pytest.mark.parametrize(
    ("text", "currency", "match"),
    [
        ("NOK 12 NOK", None, "unparsable price 'NOK 12 NOK'"),
        ("1e5 USD", None, "unparsable price '1e5 USD'"),
        ("abc", None, "unparsable price 'abc'"),
        ("", "NOK", "unparsable price"),
        ("-5 NOK", None, "negative price '-5 NOK'"),
        ("-$5", None, "negative price"),
        (-5, "NOK", "negative"),
        (float("nan"), "NOK", "not a finite number"),
        (float("inf"), "NOK", "not a finite number"),
        ("nan NOK", None, "unparsable"),
        ("inf", "NOK", "unparsable"),
        (10**400, "NOK", "not a finite number"),
        ("1" * 400 + " NOK", None, "not a finite number"),
        ("1299.00", None, "has no currency: write '1299.00 NOK', add a currency column or pass --currency"),
        (1299, None, "no currency"),
        ("1299.00 EUR", "NOK", "is in EUR but the feed's currency is NOK"),
        ("€5", "USD", "is in EUR but the feed's currency is USD"),
        ("$5", "EUR", "is in USD but the feed's currency is EUR"),
        ("1 299,00 kr", None, "'kr' could be DKK or ISK or NOK or SEK; pass --currency"),
        ("¥100", None, "'¥' could be CNY or JPY; pass --currency"),
        ("1 299,00 kr", "USD", "written in 'kr', which is not USD"),
        ("1299.00", "kroner", "invalid currency"),
        ("1299.00", "N1K", "invalid currency"),
        (True, "NOK", "must be text or a number"),
    ],
)
def test_parse_price_invalid(text: str | int | float, currency: str | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_price(text, currency)
