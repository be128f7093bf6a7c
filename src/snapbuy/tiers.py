"""Price tiers: pure functions. A tier is the half-open price range [min_price, max_price)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from snapbuy.errors import InvalidParameterError

DEFAULT_TIER_NAMES = ("budget", "mid", "premium")


@dataclass(frozen=True, slots=True)
class TierBound:
    name: str
    min_price: float | None  # inclusive; None = open below
    max_price: float | None  # exclusive; None = open above

    def contains(self, price: float) -> bool:
        above = self.min_price is None or price >= self.min_price
        below = self.max_price is None or price < self.max_price
        return above and below


def tier_names(count: int) -> tuple[str, ...]:
    """budget/mid/premium for three tiers, budget/premium for two, tier-1..tier-N otherwise."""
    if count == 3:
        return DEFAULT_TIER_NAMES
    if count == 2:
        return ("budget", "premium")
    return tuple(f"tier-{i + 1}" for i in range(count))


def parse_tier_bounds(text: str) -> list[float]:
    """Parse '500,2000' into strictly increasing positive cut points."""
    try:
        cuts = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise InvalidParameterError(f"--tier-bounds must be comma-separated numbers, got {text!r}") from exc
    if not cuts:
        raise InvalidParameterError("--tier-bounds needs at least one number, e.g. '500,2000'")
    if any(not np.isfinite(c) or c <= 0 for c in cuts):
        raise InvalidParameterError(f"--tier-bounds must be positive finite numbers, got {text!r}")
    if any(b <= a for a, b in itertools.pairwise(cuts)):
        raise InvalidParameterError(f"--tier-bounds must be strictly increasing, got {text!r}")
    return cuts


def bounds_from_cuts(cuts: Sequence[float]) -> list[TierBound]:
    names = tier_names(len(cuts) + 1)
    edges: list[float | None] = [None, *cuts, None]
    return [TierBound(names[i], edges[i], edges[i + 1]) for i in range(len(names))]


def tertile_cuts(prices: Sequence[float]) -> list[float]:
    """Cut points at the 1/3 and 2/3 quantiles, so each tier holds about a third of the category.
    Rounded to cents: bounds are shown to shoppers as prices."""
    if len(prices) == 0:
        raise ValueError("a category needs at least one price")
    quantiles = np.quantile(np.asarray(prices, dtype=np.float64), [1 / 3, 2 / 3])
    return [round(float(q), 2) for q in quantiles]


def compute_tier_bounds(
    prices_by_category: Mapping[str, Sequence[float]], global_cuts: Sequence[float] | None = None
) -> dict[str, list[TierBound]]:
    """Per-category tertiles by default; the same global cut points for every category when given."""
    return {
        category: bounds_from_cuts(global_cuts if global_cuts is not None else tertile_cuts(prices))
        for category, prices in prices_by_category.items()
    }


def tier_index(price: float, bounds: Sequence[TierBound]) -> int:
    for i, bound in enumerate(bounds):
        if bound.contains(price):
            return i
    raise ValueError(f"price {price} is outside every tier")  # unreachable: tiers cover the real line


def bounds_to_json(bounds: Mapping[str, Sequence[TierBound]]) -> dict[str, list[dict[str, object]]]:
    return {
        cat: [{"name": b.name, "min_price": b.min_price, "max_price": b.max_price} for b in tiers]
        for cat, tiers in bounds.items()
    }


def bounds_from_json(data: Mapping[str, Sequence[Mapping[str, object]]]) -> dict[str, list[TierBound]]:
    def opt(value: object) -> float | None:
        return None if value is None else float(value)  # type: ignore[arg-type]

    return {
        cat: [TierBound(str(t["name"]), opt(t["min_price"]), opt(t["max_price"])) for t in tiers]
        for cat, tiers in data.items()
    }
