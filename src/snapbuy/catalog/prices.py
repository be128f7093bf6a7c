"""Prices as feeds write them ('1,299.00 USD', '$15.00', '1 299,00 kr'), read with price-parser."""

from __future__ import annotations

import math
import re

from price_parser import Price

_CURRENCY_RE = re.compile(r"[A-Z]{3}")
# Signs that name one currency wherever they are written.
CURRENCY_SIGNS = {
    "€": "EUR",
    "£": "GBP",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₪": "ILS",
    "₫": "VND",
    "฿": "THB",
    "₱": "PHP",
    "₴": "UAH",
    "zł": "PLN",
    "Kč": "CZK",
    "R$": "BRL",
    "US$": "USD",
    "CA$": "CAD",
    "C$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "S$": "SGD",
    "HK$": "HKD",
    "MX$": "MXN",
}
# '$' is USD unless the feed's currency is one of these, which also write '$'.
DOLLAR_CURRENCIES = frozenset(
    {"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "TWD", "ARS", "CLP", "COP", "BRL"}
)
# Signs several currencies share: the feed's currency must say which.
AMBIGUOUS_SIGNS = {
    "kr": frozenset({"NOK", "SEK", "DKK", "ISK"}),
    "¥": frozenset({"JPY", "CNY"}),
    "元": frozenset({"CNY"}),
    "円": frozenset({"JPY"}),
}
_NEGATIVE_SIGNS = ("-", "\u2212")


def check_currency(code: str) -> str:
    """The code upper-cased; ValueError unless it is three letters."""
    upper = code.strip().upper()
    if not _CURRENCY_RE.fullmatch(upper):
        raise ValueError(f"invalid currency '{code}': expected a 3-letter ISO 4217 code such as 'NOK'")
    return upper


def parse_price(text: str | int | float, currency: str | None = None) -> tuple[float, str]:
    """(amount, ISO code) of '1,299.00 USD', 'USD 1299', '$15.00', '1 299,00 kr' or a bare number.

    `currency` is the feed's currency: it resolves signs and bare numbers, and a price that names
    another currency is refused. ValueError says why a price cannot be read.
    """
    feed_currency = check_currency(currency) if currency and currency.strip() else None
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"price must be text or a number, not {type(text).__name__}")
    if isinstance(text, str):
        value, written = _parse_text(text)
    else:
        value, written = _finite(text, str(text)), None
    code = _currency_code(written, feed_currency, text)
    if code is None:
        raise ValueError(
            f"price '{text}' has no currency: write '1299.00 NOK', add a currency column or pass --currency"
        )
    return value, code


def _finite(number: int | float, shown: str) -> float:
    try:
        value = float(number)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise ValueError(f"price '{shown}' is not a finite number")
    if math.copysign(1.0, value) < 0:
        raise ValueError(f"negative price '{shown}'")
    return value


def _parse_text(text: str) -> tuple[float, str | None]:
    """The amount and the currency text as written (a code or a sign), or None."""
    stripped = text.strip()
    price = Price.fromstring(stripped)
    if price.amount is None or price.amount_text is None:
        raise ValueError(f"unparsable price '{text}'")
    rest = stripped.replace(price.amount_text, " ", 1)
    written = price.currency
    if written is not None:
        rest = re.sub(re.escape(written), " ", rest, count=1, flags=re.IGNORECASE)
    rest = rest.strip()
    if rest in _NEGATIVE_SIGNS:
        raise ValueError(f"negative price '{text}'")
    if written is None and re.fullmatch(r"[A-Za-z]{3}", rest):
        written, rest = rest, ""
    if rest:
        raise ValueError(f"unparsable price '{text}': '{rest}' is neither the amount nor its currency")
    return _finite(float(price.amount), text), written


def _currency_code(written: str | None, feed_currency: str | None, text: object) -> str | None:
    if written is None:
        return feed_currency
    code: str | None
    if _CURRENCY_RE.fullmatch(written.upper()):
        code = written.upper()
    elif written == "$":
        code = feed_currency if feed_currency in DOLLAR_CURRENCIES else "USD"
    elif written in CURRENCY_SIGNS:
        code = CURRENCY_SIGNS[written]
    else:
        code = _ambiguous_sign(written, feed_currency, text)
    if feed_currency and code != feed_currency:
        raise ValueError(f"price '{text}' is in {code} but the feed's currency is {feed_currency}")
    return code


def _ambiguous_sign(written: str, feed_currency: str | None, text: object) -> str:
    candidates = AMBIGUOUS_SIGNS.get(written.lower(), AMBIGUOUS_SIGNS.get(written))
    if feed_currency is None:
        meaning = f"'{written}' could be " + " or ".join(sorted(candidates)) if candidates else None
        raise ValueError(
            f"price '{text}': the currency sign {meaning or repr(written) + ' is not recognised'};"
            " pass --currency or add a currency column"
        )
    if candidates is not None and feed_currency not in candidates:
        raise ValueError(f"price '{text}' is written in '{written}', which is not {feed_currency}")
    return feed_currency
