"""The catalog's values: products, their images, rejected rows, and the catalog read from one feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

UNCATEGORIZED = "uncategorized"
AVAILABILITIES = ("in_stock", "out_of_stock", "preorder", "backorder")
FEED_FORMATS = ("csv", "tsv", "jsonl", "xml", "shopify")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image link of a product. At most one of `path` and `url` is set; neither when `problem` is."""

    link: str  # exactly as written in the feed
    path: Path | None  # a local file, resolved and confined inside the image root
    url: str | None  # an absolute http(s) URL to download
    problem: str | None  # why the link cannot be used


@dataclass(frozen=True, slots=True)
class ImageBase:
    """Where relative image links point."""

    folder: Path | None  # the local feed's folder, or --image-root; local paths must resolve inside it
    url: str | None  # a feed fetched from a URL: relative links are joined onto it


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    title: str
    price: float  # the regular price
    currency: str
    category: str
    brand: str | None
    item_group_id: str | None
    link: str | None
    images: tuple[ImageRef, ...]
    line: int
    availability: str = "in_stock"  # one of AVAILABILITIES
    sale_price: float | None = None
    sale_starts: datetime | None = None  # timezone-aware; None: no start
    sale_ends: datetime | None = None  # timezone-aware, exclusive; None: no end

    def sale_active(self, at: datetime) -> bool:
        """Whether the sale price applies at `at` (timezone-aware): within [sale_starts, sale_ends)."""
        if at.tzinfo is None:
            raise ValueError("sale_active needs a timezone-aware time")
        if self.sale_price is None:
            return False
        started = self.sale_starts is None or self.sale_starts <= at
        return started and (self.sale_ends is None or at < self.sale_ends)

    @property
    def first_local_image(self) -> Path | None:
        """The first of the product's images that is a file on disk (not an http link), if any."""
        return next((ref.path for ref in self.images if ref.path is not None), None)

    def price_paid(self, at: datetime) -> float:
        """The sale price while the sale is active, else the regular price."""
        if self.sale_price is not None and self.sale_active(at):
            return self.sale_price
        return self.price


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    field: str
    reason: str
    row: dict[str, object]


@dataclass(frozen=True, slots=True)
class Catalog:
    source: str  # the feed's path or URL as given
    products: tuple[Product, ...]
    rejects: tuple[RejectedRow, ...]
    currency: str
    sha256: str  # of the feed's bytes as read (the compressed bytes of a gzip feed)
    format: str  # one of FEED_FORMATS
