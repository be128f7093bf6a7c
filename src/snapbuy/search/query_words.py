"""The words a shopper adds to a search ("in red", "under 500", "cheaper"): the phrases that name a
price are read as price bounds, the rest goes to the model's text tower.

Understood, in any case, amounts in the index's currency (a currency sign or code beside the amount is
allowed and not converted), each phrase only where it stands on its own (word boundaries):

- `under N`, `below N`, `less than N`, `cheaper than N`, `at most N`, `up to N`, `max N`: price paid <= N
- `over N`, `above N`, `more than N`, `dearer than N`, `pricier than N`, `at least N`, `min N`: >= N
- `between N and M`, `from N to M`: N <= price paid <= M
- `cheaper`, `less expensive`, `lower priced`: cheaper than the photo's best match (photo searches only)
- `dearer`, `pricier`, `more expensive`, `higher priced`: dearer than the photo's best match (idem)

Nothing else is read as a price: "a 500 series watch" and "size 38-40" stay text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from price_parser import Price

from snapbuy.errors import InvalidParameterError

# An amount: digits with thousands or decimal marks, a currency sign or code before or after it.
_CURRENCY = r"(?:[$€£¥]|\b(?:kr|usd|eur|gbp|nok|sek|dkk|chf|jpy|cad|aud)\b)"
_AMOUNT = rf"(?:[$€£¥]\s?)?\d+(?:[.,\s]\d{{3}})*(?:[.,]\d{{1,2}})?(?:\s?{_CURRENCY})?"
_RANGE = re.compile(
    rf"\b(?:between\s+(?P<a1>{_AMOUNT})\s+and\s+(?P<b1>{_AMOUNT})"
    rf"|from\s+(?P<a2>{_AMOUNT})\s+to\s+(?P<b2>{_AMOUNT}))",
    re.IGNORECASE,
)
_AT_MOST = re.compile(
    rf"\b(?:under|below|less\s+than|cheaper\s+than|at\s+most|up\s+to|max(?:imum)?)\s+(?P<n>{_AMOUNT})",
    re.IGNORECASE,
)
_AT_LEAST = re.compile(
    rf"\b(?:over|above|more\s+than|dearer\s+than|pricier\s+than|at\s+least|min(?:imum)?)\s+(?P<n>{_AMOUNT})",
    re.IGNORECASE,
)
_CHEAPER = re.compile(r"\b(?:cheaper|less\s+expensive|lower[\s-]priced)\b", re.IGNORECASE)
_DEARER = re.compile(r"\b(?:dearer|pricier|more\s+expensive|higher[\s-]priced)\b", re.IGNORECASE)
# Joining words left dangling once a price phrase is taken out ("in red and under 500" -> "in red"),
# and a leading "like this (but)", which the photo already says.
_DANGLING = re.compile(
    r"^(?:\s|,|and\b|but\b|like\s+this(?:\s+one)?\b)+|(?:\s|,|and\b|but\b)+$", re.IGNORECASE
)

CHEAPER = "cheaper"
DEARER = "dearer"


@dataclass(frozen=True)
class ReadWords:
    """What the words asked: `text` for the text tower ('' when they only named a price), price
    bounds (inclusive, on the price paid), a `relative` wish (CHEAPER or DEARER than the photo's best
    match, or None), and how each price phrase was read, for the answer."""

    text: str
    min_price: float | None = None
    max_price: float | None = None
    relative: str | None = None
    understood: tuple[str, ...] = ()


def _amount(text: str) -> float:
    amount = Price.fromstring(text).amount_float
    if amount is None:  # the patterns only match digits, so price-parser always finds one
        raise InvalidParameterError(f"cannot read the amount {text!r}")
    return amount


def read_words(words: str) -> ReadWords:
    """Split `words` into price bounds and the text that is left (see the module's list)."""
    text = " ".join(words.split())
    low: float | None = None
    high: float | None = None
    relative: str | None = None
    understood: list[str] = []

    def take(match: re.Match[str]) -> str:
        understood.append(match.group(0))
        return " "

    if match := _RANGE.search(text):
        a, b = (next(g for g in (match.group(f"{s}{i}") for i in (1, 2)) if g) for s in ("a", "b"))
        low, high = sorted((_amount(a), _amount(b)))
        text = _RANGE.sub(take, text, count=1)
    if match := _AT_MOST.search(text):
        high = _amount(match.group("n")) if high is None else min(high, _amount(match.group("n")))
        text = _AT_MOST.sub(take, text, count=1)
    if match := _AT_LEAST.search(text):
        low = _amount(match.group("n")) if low is None else max(low, _amount(match.group("n")))
        text = _AT_LEAST.sub(take, text, count=1)
    if _CHEAPER.search(text):
        relative = CHEAPER
        text = _CHEAPER.sub(take, text, count=1)
    elif _DEARER.search(text):
        relative = DEARER
        text = _DEARER.sub(take, text, count=1)
    text = _DANGLING.sub("", " ".join(text.split()))
    return ReadWords(text, low, high, relative, tuple(understood))
