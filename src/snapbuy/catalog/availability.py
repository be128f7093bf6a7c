"""Google Merchant Center's availability values, in their current and older spellings."""

from __future__ import annotations

from snapbuy.catalog.model import AVAILABILITIES

# Older or spaced spellings, after lower-casing and turning spaces and hyphens into underscores.
_SPELLINGS = {
    "": "in_stock",
    "pre_order": "preorder",
    "back_order": "backorder",
    "available_for_order": "backorder",
    **{value: value for value in AVAILABILITIES},
}


def parse_availability(text: str) -> str:
    """One of AVAILABILITIES ('' is in_stock); ValueError lists the accepted values."""
    key = "_".join(text.strip().lower().replace("-", " ").split())
    try:
        return _SPELLINGS[key]
    except KeyError:
        accepted = ", ".join(AVAILABILITIES)
        raise ValueError(
            f"unknown availability '{text}': use one of {accepted}"
            " (spaces for underscores, 'pre-order' and 'available for order' are accepted too)"
        ) from None
