"""Field names as retailers write them, and the length caps on the values snapbuy keeps."""

from __future__ import annotations

import re
from collections.abc import Iterable

from snapbuy.catalog.records import RowError

# Google Merchant Center's own limits where it has them; description-like fields are not read at all.
ID_MAX_CHARS = 255
TITLE_MAX_CHARS = 500
BRAND_MAX_CHARS = 255
CATEGORY_MAX_CHARS = 750
ITEM_GROUP_ID_MAX_CHARS = 255
LINK_MAX_CHARS = 2000  # the product page, and each image link
FIELD_LIMITS = {
    "id": ID_MAX_CHARS,
    "title": TITLE_MAX_CHARS,
    "brand": BRAND_MAX_CHARS,
    "category": CATEGORY_MAX_CHARS,
    "product_type": CATEGORY_MAX_CHARS,
    "google_product_category": CATEGORY_MAX_CHARS,
    "item_group_id": ITEM_GROUP_ID_MAX_CHARS,
    "link": LINK_MAX_CHARS,
    "image_link": LINK_MAX_CHARS,
    "additional_image_link": LINK_MAX_CHARS,
}
_SEPARATORS = re.compile(r"[\s-]+")


def normalise_name(name: str) -> str:
    """'Item Group ID', 'g:item_group_id' and 'item-group-id' all become 'item_group_id'."""
    key = name.strip().lower().removeprefix("\ufeff").strip()
    return _SEPARATORS.sub("_", key.removeprefix("g:"))


def normalise_names(names: Iterable[str]) -> list[str]:
    """Each name normalised; ValueError names both spellings when two mean the same field."""
    seen: dict[str, str] = {}
    keys: list[str] = []
    for name in names:
        key = normalise_name(name)
        if key and key in seen:
            raise ValueError(f"columns '{seen[key]}' and '{name}' both mean '{key}'")
        seen[key] = name
        keys.append(key)
    return keys


def check_length(field: str, value: str) -> str:
    """`value`, or a RowError when it is longer than the field's cap."""
    limit = FIELD_LIMITS.get(field)
    if limit is not None and len(value) > limit:
        raise RowError(field, f"{field} is {len(value):,} characters; the limit is {limit:,}")
    return value


def text(fields: dict[str, object], key: str) -> str:
    """The field as stripped text ('' when absent), within its length cap."""
    value = fields.get(key)
    if value is None:
        return ""
    if isinstance(value, list):
        raise RowError(key, f"expected one value, got {len(value)}")
    if isinstance(value, bool | dict):
        raise RowError(key, f"expected text, got {type(value).__name__}")
    return check_length(key, str(value).strip())


def required(fields: dict[str, object], key: str) -> str:
    value = text(fields, key)
    if not value:
        raise RowError(key, "required value is missing or empty")
    return value
