"""Read a retailer's product feed (CSV, TSV, JSON Lines, RSS/Atom XML, Shopify's export) into products."""

from snapbuy.catalog.model import (
    AVAILABILITIES,
    FEED_FORMATS,
    UNCATEGORIZED,
    Catalog,
    ImageBase,
    ImageRef,
    Product,
    RejectedRow,
)
from snapbuy.catalog.prices import parse_price
from snapbuy.catalog.reader import parse_feed, read_catalog
from snapbuy.catalog.rejects import write_rejects

__all__ = [
    "AVAILABILITIES",
    "FEED_FORMATS",
    "UNCATEGORIZED",
    "Catalog",
    "ImageBase",
    "ImageRef",
    "Product",
    "RejectedRow",
    "parse_feed",
    "parse_price",
    "read_catalog",
    "write_rejects",
]
