"""Shared by the search tests: a deterministic fake model and a 240-product index built with it."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from snapbuy.bundle import open_current
from snapbuy.catalog import Product
from snapbuy.indexing import IndexingOptions, build_index
from snapbuy.loading import build_service
from snapbuy.search import FramingSettings, SearchService
from tests.fakes import DIM, HashEmbedder, build_index_with

__all__ = ["DIM", "HashEmbedder"]
CATEGORIES = ["watch", "sneaker", "mug", "lamp", "bag"]


@pytest.fixture(scope="package")
def synthetic_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """240 products in 5 categories; every 7th product has a second image. Variant groups of three
    products of one category (their prices, so their tiers, differ), every 8th product in none."""
    folder = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(7)
    rows = []
    for i in range(240):
        links = []
        for j in range(2 if i % 7 == 0 else 1):
            name = f"p{i}-{j}.png"
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(folder / name)
            links.append(name)
        rows.append(
            {
                "id": f"SKU{i:03d}",
                "title": f"product {i}",
                "price": f"{rng.uniform(50, 5000):.2f} NOK",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "item_group_id": "" if i % 8 == 0 else f"G{i % len(CATEGORIES)}-{i // 15}",
                "image_link": links[0],
                "additional_image_link": ",".join(links[1:]),
            }
        )
    catalog = folder / "catalog.csv"
    with catalog.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return catalog


@pytest.fixture(scope="package")
def synthetic_index(synthetic_catalog: Path) -> Path:
    root = synthetic_catalog.parent / "index"
    build_index(synthetic_catalog, root, HashEmbedder(), IndexingOptions(batch_size=64))
    return root


def with_stock_and_sales(product: Product) -> Product:
    """Every third product out of stock, every fourth (of the rest) on preorder; every fifth on sale at
    half price and every tenth (of the rest) with a sale that has ended."""
    number = int(product.sku.removeprefix("SKU"))
    availability = "out_of_stock" if number % 3 == 0 else "preorder" if number % 4 == 0 else "in_stock"
    if number % 5 == 0:
        return replace(product, availability=availability, sale_price=round(product.price / 2, 2))
    if number % 10 == 1:
        ended = datetime(2020, 1, 31, tzinfo=UTC)
        return replace(product, availability=availability, sale_price=1.0, sale_ends=ended)
    return replace(product, availability=availability)


@pytest.fixture(scope="package")
def stocked_index(synthetic_catalog: Path) -> Path:
    """The synthetic catalog with stock and sales (with_stock_and_sales)."""
    root = synthetic_catalog.parent / "stocked-index"
    build_index_with(
        synthetic_catalog, root, HashEmbedder(), IndexingOptions(batch_size=64), with_stock_and_sales
    )
    return root


@pytest.fixture(scope="package")
def stocked_service(stocked_index: Path) -> Iterator[SearchService]:
    service = build_service(open_current(stocked_index), HashEmbedder())
    yield service
    service.close()


@pytest.fixture(scope="package")
def service(synthetic_index: Path) -> Iterator[SearchService]:
    service = build_service(open_current(synthetic_index), HashEmbedder())
    yield service
    service.close()


def grid_service(
    index: Path, embedder: HashEmbedder, framing: FramingSettings | None = None
) -> SearchService:
    """A search service without a localiser: the crop grid finds the product."""
    return build_service(open_current(index), embedder, framing)


def random_query(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)
