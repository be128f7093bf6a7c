from __future__ import annotations

import pytest

from snapbuy.errors import InvalidParameterError
from snapbuy.tiers import (
    TierBound,
    bounds_from_cuts,
    bounds_from_json,
    bounds_to_json,
    compute_tier_bounds,
    parse_tier_bounds,
    tertile_cuts,
    tier_index,
    tier_names,
)


def test_tertiles_split_a_category_in_thirds() -> None:
    prices = [float(p) for p in range(1, 10)]  # 1..9
    bounds = bounds_from_cuts(tertile_cuts(prices))
    counts = [sum(b.contains(p) for p in prices) for b in bounds]
    assert [b.name for b in bounds] == ["budget", "mid", "premium"]
    assert counts == [3, 3, 3]
    assert bounds[0].min_price is None and bounds[-1].max_price is None


def test_tertile_cuts_are_rounded_to_cents() -> None:
    cuts = tertile_cuts([10.0, 20.0, 30.0, 40.0])
    assert cuts == [round(c, 2) for c in cuts]
    assert cuts == [20.0, 30.0]


def test_every_price_falls_in_exactly_one_tier() -> None:
    bounds = bounds_from_cuts([500.0, 2000.0])
    for price in [0.0, 499.99, 500.0, 1999.99, 2000.0, 1e9]:
        assert sum(b.contains(price) for b in bounds) == 1
    assert tier_index(499.99, bounds) == 0
    assert tier_index(500.0, bounds) == 1  # lower bound inclusive
    assert tier_index(2000.0, bounds) == 2  # upper bound exclusive


def test_compute_tier_bounds_per_category_and_global() -> None:
    prices = {"watch": [100.0, 200.0, 300.0], "mug": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]}
    per_category = compute_tier_bounds(prices)
    assert per_category["watch"][1].min_price != per_category["mug"][1].min_price
    fixed = compute_tier_bounds(prices, [25.0, 150.0])
    assert fixed["watch"] == fixed["mug"] == bounds_from_cuts([25.0, 150.0])


@pytest.mark.parametrize(
    ("text", "cuts"), [("500,2000", [500.0, 2000.0]), ("99.5", [99.5]), (" 1, 2 ,3", [1.0, 2.0, 3.0])]
)
def test_parse_tier_bounds(text: str, cuts: list[float]) -> None:
    assert parse_tier_bounds(text) == cuts


@pytest.mark.parametrize("text", ["", "abc", "2000,500", "500,500", "-1,5", "nan,5", "inf"])
def test_parse_tier_bounds_rejects_bad_input(text: str) -> None:
    with pytest.raises(InvalidParameterError):
        parse_tier_bounds(text)


def test_tier_names_by_count() -> None:
    assert tier_names(3) == ("budget", "mid", "premium")
    assert tier_names(2) == ("budget", "premium")
    assert tier_names(4) == ("tier-1", "tier-2", "tier-3", "tier-4")


def test_json_round_trip_keeps_open_ends() -> None:
    bounds = {"watch": [TierBound("budget", None, 10.0), TierBound("premium", 10.0, None)]}
    assert bounds_from_json(bounds_to_json(bounds)) == bounds
