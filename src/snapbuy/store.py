"""SQLite product table, plus the compact numeric columns that search filters on."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = """
CREATE TABLE products (
    row INTEGER PRIMARY KEY,          -- 0-based; products are ordered by (category, tier, sku)
    sku TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    brand TEXT,
    category TEXT NOT NULL,
    price REAL NOT NULL,              -- the regular price
    currency TEXT NOT NULL,
    tier TEXT NOT NULL,
    item_group_id TEXT,
    link TEXT,                        -- the product page
    image_link TEXT,                  -- the feed's link of the first image, as written
    availability TEXT NOT NULL,       -- in_stock, out_of_stock, preorder or backorder
    sale_price REAL,                  -- set only when the sale was on at index time
    sale_price_effective_date TEXT    -- the sale's window as ISO 'start/end' text, for display
);
CREATE TABLE vectors (
    vector_id INTEGER PRIMARY KEY,    -- row in vectors.faiss; a product may own several
    product_row INTEGER NOT NULL REFERENCES products(row),
    image_link TEXT NOT NULL
);
"""


# The one availability a shopper can't order; in_stock, preorder and backorder all can be.
OUT_OF_STOCK = "out_of_stock"


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """One product row. `price` is the regular price; `sale_price` is set only when a sale was on when
    the index was built, so `price_paid` is what the shopper pays."""

    row: int
    sku: str
    title: str
    brand: str | None
    category: str
    price: float
    currency: str
    tier: str
    item_group_id: str | None
    link: str | None
    image_link: str | None
    availability: str = "in_stock"
    sale_price: float | None = None
    sale_price_effective_date: str | None = None

    @property
    def price_paid(self) -> float:
        return self.price if self.sale_price is None else self.sale_price


PRODUCT_COLUMNS = ", ".join(ProductRecord.__slots__)


def write_store(
    path: Path, products: Sequence[ProductRecord], vectors: Iterable[tuple[int, int, str]]
) -> None:
    """Write a fresh products.sqlite. `vectors` yields (vector_id, product_row, image_link)."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SCHEMA)
        placeholders = ", ".join("?" * len(ProductRecord.__slots__))
        conn.executemany(
            f"INSERT INTO products ({PRODUCT_COLUMNS}) VALUES ({placeholders})",
            [tuple(getattr(p, name) for name in ProductRecord.__slots__) for p in products],
        )
        conn.executemany("INSERT INTO vectors VALUES (?, ?, ?)", vectors)
        conn.commit()
    finally:
        conn.close()


@dataclass(frozen=True)
class FilterColumns:
    """Per-product and per-vector numbers that filtering needs, held in numpy (a few bytes per SKU)."""

    vector_product: np.ndarray  # int32[vectors]: product row of each vector
    price_paid: np.ndarray  # float64[products]: the sale price where there is one, else the price
    # bool[products]: orderable, i.e. every availability but out_of_stock (preorder and backorder can be
    # bought now and delivered later, so search shows them by default)
    in_stock: np.ndarray
    category_code: np.ndarray  # int32[products]: index into `categories`
    categories: tuple[str, ...]
    tier_code: np.ndarray  # int32[products]: index into `tiers`
    tiers: tuple[str, ...]
    max_vectors_per_product: int
    brand_code: np.ndarray  # int32[products]: index into `brands`, -1 for a product without a brand
    brands: tuple[str, ...]
    availability_code: np.ndarray  # int8[products]: index into `availabilities`
    availabilities: tuple[str, ...]
    # int32[products]: the product's variant group (its item_group_id; a product without one is a
    # group of its own), and the most vectors any group owns, for an exact search of k groups.
    group_code: np.ndarray
    max_vectors_per_group: int
    # Product rows sorted by group, and where each group starts in that order (groups + 1 entries):
    # a group's variants without a scan of every product.
    group_order: np.ndarray
    group_start: np.ndarray

    def variant_rows(self, row: int) -> np.ndarray:
        """The rows of every product in `row`'s variant group, `row` included, in row order."""
        group = int(self.group_code[row])
        members: np.ndarray = self.group_order[self.group_start[group] : self.group_start[group + 1]]
        return members


def _group_codes(group_rank: np.ndarray) -> np.ndarray:
    """Codes 0..groups-1 from SQLite's dense ranks (which count the products without a group as a
    rank of their own, or start at 1); each product without one (-1) gets a code of its own after them."""
    codes = group_rank.astype(np.int32)
    grouped = codes >= 0
    if grouped.any():
        _, codes[grouped] = np.unique(codes[grouped], return_inverse=True)
    start = int(codes[grouped].max()) + 1 if grouped.any() else 0
    codes[~grouped] = start + np.arange(int((~grouped).sum()), dtype=np.int32)
    return codes


class ProductStore:
    """Read-only access to products.sqlite. One connection shared under a lock (SQLite reads are fast)."""

    def __init__(self, path: Path) -> None:
        # as_uri() percent-encodes the path: a raw '?', '#' or '%' in a folder name would corrupt the URI.
        uri = f"{Path(path).resolve().as_uri()}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def load_filter_columns(self) -> FilterColumns:
        """Columns streamed straight into numpy (never a list of a million row tuples: the freed tuples
        would stay in the process's heap and cost ~80 bytes per SKU of resident memory for good)."""
        with self._lock:
            conn = self._conn
            categories = tuple(
                r[0] for r in conn.execute("SELECT DISTINCT category FROM products ORDER BY 1")
            )
            tiers = tuple(r[0] for r in conn.execute("SELECT DISTINCT tier FROM products ORDER BY 1"))
            brands = tuple(
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT brand FROM products WHERE brand IS NOT NULL ORDER BY 1"
                )
            )
            availabilities = tuple(
                r[0] for r in conn.execute("SELECT DISTINCT availability FROM products ORDER BY 1")
            )
            count = conn.execute("SELECT COUNT(*) FROM products").fetchone()[0]
            vectors = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            code_of = {c: i for i, c in enumerate(categories)}
            tier_code_of = {t: i for i, t in enumerate(tiers)}

            def column(
                sql: str, dtype: type, n: int, convert: Any = None, params: tuple[Any, ...] = ()
            ) -> np.ndarray:
                values = (r[0] for r in conn.execute(sql, params))
                return np.fromiter(values if convert is None else map(convert, values), dtype=dtype, count=n)

            price_paid = column(
                "SELECT COALESCE(sale_price, price) FROM products ORDER BY row", np.float64, count
            )
            category_code = column(
                "SELECT category FROM products ORDER BY row", np.int32, count, code_of.__getitem__
            )
            tier_code = column(
                "SELECT tier FROM products ORDER BY row", np.int32, count, tier_code_of.__getitem__
            )
            brand_code_of = {b: i for i, b in enumerate(brands)}
            brand_code = column(
                "SELECT brand FROM products ORDER BY row",
                np.int32,
                count,
                lambda brand: -1 if brand is None else brand_code_of[brand],
            )
            availability_code_of = {a: i for i, a in enumerate(availabilities)}
            availability_code = column(
                "SELECT availability FROM products ORDER BY row",
                np.int8,
                count,
                availability_code_of.__getitem__,
            )
            # Dense ranks of the item_group_ids computed by SQLite, so no million strings pass through
            # Python's heap; -1 for a product without one.
            group_rank = column(
                "SELECT CASE WHEN COALESCE(item_group_id, '') = '' THEN -1 "
                "ELSE DENSE_RANK() OVER (ORDER BY item_group_id) END FROM products ORDER BY row",
                np.int32,
                count,
            )
            vector_product = column("SELECT product_row FROM vectors ORDER BY vector_id", np.int32, vectors)
        # Orderable: every availability but out_of_stock, read from the column above, not a second pass.
        in_stock = (
            availability_code != availabilities.index(OUT_OF_STOCK)
            if OUT_OF_STOCK in availabilities
            else np.ones(count, dtype=bool)
        )
        counts = np.bincount(vector_product, minlength=count) if vectors else np.zeros(1, np.int64)
        group_code = _group_codes(group_rank)
        groups = int(group_code.max()) + 1 if count else 0
        group_vectors = np.bincount(group_code, weights=counts[:count], minlength=groups) if count else counts
        group_order = np.argsort(group_code, kind="stable").astype(np.int32)
        group_start = np.searchsorted(group_code[group_order], np.arange(groups + 1)).astype(np.int32)
        return FilterColumns(
            vector_product=vector_product,
            price_paid=price_paid,
            in_stock=in_stock,
            category_code=category_code,
            categories=categories,
            tier_code=tier_code,
            tiers=tiers,
            max_vectors_per_product=int(counts.max()) if len(counts) else 0,
            brand_code=brand_code,
            brands=brands,
            availability_code=availability_code,
            availabilities=availabilities,
            group_code=group_code,
            max_vectors_per_group=int(group_vectors.max()) if len(group_vectors) else 0,
            group_order=group_order,
            group_start=group_start,
        )

    def products_by_rows(self, rows: Sequence[int]) -> dict[int, ProductRecord]:
        if not rows:
            return {}
        marks = ", ".join("?" * len(rows))
        with self._lock:
            found = self._conn.execute(
                f"SELECT {PRODUCT_COLUMNS} FROM products WHERE row IN ({marks})", [int(r) for r in rows]
            ).fetchall()
        return {r[0]: ProductRecord(*r) for r in found}

    def product_by_sku(self, sku: str) -> ProductRecord | None:
        with self._lock:
            found = self._conn.execute(
                f"SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = ?", (sku,)
            ).fetchone()
        return ProductRecord(*found) if found else None

    def vector_ids_of_rows(self, product_rows: Sequence[int]) -> dict[int, list[int]]:
        """Each product row's vector ids in id order, read in one query."""
        found: dict[int, list[int]] = {int(row): [] for row in product_rows}
        if not found:
            return found
        marks = ", ".join("?" * len(found))
        with self._lock:
            pairs = self._conn.execute(
                f"SELECT product_row, vector_id FROM vectors WHERE product_row IN ({marks}) "
                "ORDER BY vector_id",
                list(found),
            ).fetchall()
        for row, vector_id in pairs:
            found[int(row)].append(int(vector_id))
        return found

    def vector_ids_of(self, product_row: int) -> list[int]:
        return self.vector_ids_of_rows([product_row])[int(product_row)]
