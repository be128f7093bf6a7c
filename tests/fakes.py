"""Test doubles shared across test modules."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from snapbuy import indexing
from snapbuy.catalog import Product, read_catalog
from snapbuy.embed.base import Embedder, ModelIdentity

DIM = 16


class HashEmbedder:
    """Deterministic, well-separated vectors from image pixels: no near-ties, so rankings are exact."""

    identity = ModelIdentity("fake:hash", "fake", "hash", DIM, {})
    dim = DIM

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        for image in images:
            seed = int.from_bytes(hashlib.sha256(image.tobytes()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(DIM)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_images([Image.new("RGB", (4, 4), (len(t) % 256, 0, 0)) for t in texts])


def feed_row(product: Product) -> dict[str, object]:
    """A product as a JSONL feed row the reader turns back into the same product."""
    row: dict[str, object] = {
        "id": product.sku,
        "title": product.title,
        "price": f"{product.price:.2f} {product.currency}",
        "product_type": product.category,
        "brand": product.brand,
        "item_group_id": product.item_group_id,
        "link": product.link,
        "image_link": product.images[0].link if product.images else None,
        "additional_image_link": [ref.link for ref in product.images[1:]],
        "availability": product.availability,
    }
    if product.sale_price is not None:
        row["sale_price"] = f"{product.sale_price:.2f} {product.currency}"
        if product.sale_starts or product.sale_ends:
            start = product.sale_starts.isoformat() if product.sale_starts else ""
            end = product.sale_ends.isoformat() if product.sale_ends else ""
            row["sale_price_effective_date"] = f"{start}/{end}"
    return {key: value for key, value in row.items() if value is not None}


def build_index_with(
    catalog: Path,
    root: Path,
    embedder: Embedder,
    options: indexing.IndexingOptions,
    change: Callable[[Product], Product],
) -> None:
    """build_index on a JSONL copy of `catalog` with `change` applied to every product: stock and sales
    as the feed's own columns, read back by the real reader. The copy sits in a copy of the catalog's
    folder beside `root`, so relative image links stay as the feed wrote them."""
    rows = [feed_row(change(product)) for product in read_catalog(catalog).products]
    shop = root.parent / f"{root.name}-shop"
    shutil.copytree(catalog.parent, shop)
    feed = shop / "feed.jsonl"
    feed.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    indexing.build_index(feed, root, embedder, options)


def cpuinfo_file(folder: Path, flags: str) -> Path:
    """A /proc/cpuinfo of two processors with these feature flags."""
    path = folder / "cpuinfo"
    path.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: " + flags + "\n\n"
        "processor\t: 1\nflags\t\t: " + flags + "\n"
    )
    return path
