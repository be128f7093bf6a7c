"""read_words: price phrases become bounds, the rest is text for the text tower."""

from __future__ import annotations

import pytest

from snapbuy.search.query_words import CHEAPER, DEARER, ReadWords, read_words


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("in red", ReadWords("in red")),
        ("in red under 500", ReadWords("in red", max_price=500, understood=("under 500",))),
        ("Under 500 red", ReadWords("red", max_price=500, understood=("Under 500",))),
        ("below $1,299.50", ReadWords("", max_price=1299.5, understood=("below $1,299.50",))),
        ("over 40 EUR and in blue", ReadWords("in blue", min_price=40, understood=("over 40 EUR",))),
        ("at least 100 at most 300", ReadWords("", 100, 300, understood=("at most 300", "at least 100"))),
        ("between 2,000 kr and 100", ReadWords("", 100, 2000, understood=("between 2,000 kr and 100",))),
        ("from 10 to 20 in black", ReadWords("in black", 10, 20, understood=("from 10 to 20",))),
        (
            "between 100 and 900 under 500",
            ReadWords("", 100, 500, understood=("between 100 and 900", "under 500")),
        ),
        ("like this but cheaper", ReadWords("", relative=CHEAPER, understood=("cheaper",))),
        ("like this one but in red", ReadWords("in red")),
        ("Pricier, in green", ReadWords("in green", relative=DEARER, understood=("Pricier",))),
        ("more expensive", ReadWords("", relative=DEARER, understood=("more expensive",))),
        # Numbers that name no price stay text.
        ("a 500 series watch", ReadWords("a 500 series watch")),
        ("size 38-40", ReadWords("size 38-40")),
        ("under the sea", ReadWords("under the sea")),
        ("  spaced   out  ", ReadWords("spaced out")),
    ],
)
def test_read_words(words: str, expected: ReadWords) -> None:
    assert read_words(words) == expected
