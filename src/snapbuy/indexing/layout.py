"""The order products and vectors are stored in: by (category, tier, sku), so that every category and
every tier is one contiguous range of vector ids and filtered search needs only a range."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from snapbuy.catalog import Product
from snapbuy.store import ProductRecord
from snapbuy.tiers import TierBound, tier_index


@dataclass(frozen=True)
class StoredLayout:
    records: list[ProductRecord]
    products: list[int]  # index into the catalog's products of each record, in row order
    vector_rows: list[int]  # job index of each stored vector, in vector-id order
    vector_links: list[tuple[int, str]]  # (product row, image link) of each stored vector


def prices_by_category(products: Sequence[Product], at: datetime) -> dict[str, list[float]]:
    """The prices shoppers pay at `at`, per category: what tiers are cut on."""
    prices: dict[str, list[float]] = {}
    for product in products:
        prices.setdefault(product.category, []).append(product.price_paid(at))
    return prices


def product_record(product: Product, row: int, tier: str, at: datetime) -> ProductRecord:
    on_sale = product.sale_active(at)
    return ProductRecord(
        row=row,
        sku=product.sku,
        title=product.title,
        brand=product.brand,
        category=product.category,
        price=product.price,
        currency=product.currency,
        tier=tier,
        item_group_id=product.item_group_id,
        link=product.link,
        image_link=product.images[0].link if product.images else None,
        availability=product.availability,
        sale_price=product.sale_price if on_sale else None,
        sale_price_effective_date=_effective_dates(product) if on_sale else None,
    )


def _effective_dates(product: Product) -> str | None:
    """The sale's window as ISO 'start/end' text ('..' for an open end), None when it has neither."""
    if product.sale_starts is None and product.sale_ends is None:
        return None
    return "/".join(
        moment.isoformat() if moment else ".." for moment in (product.sale_starts, product.sale_ends)
    )


def stored_layout(
    products: Sequence[Product],
    job_products: Sequence[int],
    job_links: Sequence[str],
    ok: np.ndarray,
    bounds: dict[str, list[TierBound]],
    at: datetime,
) -> StoredLayout:
    """Records and vector order for the products that have at least one vector. `job_products` and
    `job_links` give each image job's product (an index into `products`) and link; `ok` says which
    jobs have a vector."""
    jobs_of: dict[int, list[int]] = {}
    for job in map(int, np.flatnonzero(ok)):
        jobs_of.setdefault(job_products[job], []).append(job)
    kept = sorted(jobs_of)
    tiers = {i: tier_index(products[i].price_paid(at), bounds[products[i].category]) for i in kept}
    order = sorted(kept, key=lambda i: (products[i].category, tiers[i], products[i].sku))
    records: list[ProductRecord] = []
    vector_rows: list[int] = []
    vector_links: list[tuple[int, str]] = []
    for row, i in enumerate(order):
        product = products[i]
        records.append(product_record(product, row, bounds[product.category][tiers[i]].name, at))
        for job in jobs_of[i]:
            vector_rows.append(job)
            vector_links.append((row, job_links[job]))
    return StoredLayout(records, order, vector_rows, vector_links)
