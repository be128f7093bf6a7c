"""products.sqlite: writing it, reading products back, and the numeric columns search filters on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from snapbuy.store import ProductRecord, ProductStore, write_store

SALE_WINDOW = "2026-12-01T00:00:00+00:00/2026-12-24T00:00:00+00:00"
PRODUCTS = [
    ProductRecord(0, "BAG-1", "Canvas tote", None, "Bags", 19.5, "EUR", "budget", None, None, "img/b1.jpg"),
    ProductRecord(
        1,
        "BAG-2",
        "Leather bag",
        "Acme",
        "Bags",
        240.0,
        "EUR",
        "premium",
        "G7",
        "https://x/b2",
        "https://cdn.x/b2.jpg?w=800",
        availability="out_of_stock",
        sale_price=199.0,
        sale_price_effective_date=SALE_WINDOW,
    ),
    ProductRecord(
        2,
        "W-1",
        "Steel watch",
        "Tick",
        "Watches",
        99.99,
        "EUR",
        "budget",
        None,
        None,
        "img/w1.jpg",
        "preorder",
    ),
    ProductRecord(
        3, "W-2", "Gold watch", "Tick", "Watches", 1500.0, "EUR", "mid", "G9", None, None, "backorder", 1200.0
    ),
]
# (vector_id, product_row, image_link), deliberately not in id order. BAG-2 owns two vectors (1 and 3),
# W-2 owns none.
VECTORS = [
    (3, 1, "img/b2-side.jpg"),
    (0, 0, "img/b1.jpg"),
    (2, 2, "img/w1.jpg"),
    (1, 1, "img/b2.jpg"),
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "products.sqlite"
    write_store(path, PRODUCTS, iter(VECTORS))  # any iterable of vectors will do
    return path


@pytest.fixture
def store(db: Path) -> Iterator[ProductStore]:
    s = ProductStore(db)
    yield s
    s.close()


def test_products_by_rows(store: ProductStore) -> None:
    found = store.products_by_rows([3, 1, 0])
    assert found == {0: PRODUCTS[0], 1: PRODUCTS[1], 3: PRODUCTS[3]}
    # Optional fields come back as None, numbers with their types.
    assert found[0].brand is None and found[0].item_group_id is None and found[0].link is None
    assert found[3].image_link is None
    assert isinstance(found[1].price, float) and isinstance(found[1].row, int)
    assert found[0].availability == "in_stock" and found[0].sale_price is None


def test_commerce_fields_round_trip(store: ProductStore) -> None:
    bag = store.product_by_sku("BAG-2")
    assert bag is not None
    assert (bag.availability, bag.sale_price, bag.sale_price_effective_date) == (
        "out_of_stock",
        199.0,
        SALE_WINDOW,
    )
    assert bag.image_link == "https://cdn.x/b2.jpg?w=800"  # a remote link, exactly as the feed wrote it
    assert (bag.price, bag.price_paid) == (240.0, 199.0)  # price stays the regular price
    watch = store.product_by_sku("W-2")
    assert watch is not None and watch.sale_price_effective_date is None  # a sale with no window given
    tote = store.product_by_sku("BAG-1")
    assert tote is not None and tote.price_paid == tote.price == 19.5


def test_products_by_rows_edge_cases(store: ProductStore) -> None:
    assert store.products_by_rows([]) == {}
    assert store.products_by_rows([99, -1]) == {}
    assert store.products_by_rows([2, 2]) == {2: PRODUCTS[2]}
    # numpy integers (as returned by faiss / numpy lookups) are accepted.
    assert store.products_by_rows(list(np.array([2, 3], dtype=np.int64))) == {2: PRODUCTS[2], 3: PRODUCTS[3]}


def test_product_by_sku(store: ProductStore) -> None:
    assert store.product_by_sku("W-2") == PRODUCTS[3]
    assert store.product_by_sku("BAG-2") == PRODUCTS[1]
    assert store.product_by_sku("NOPE") is None
    assert store.product_by_sku("w-2") is None  # SKUs are exact


def test_vector_ids_of(store: ProductStore) -> None:
    assert store.vector_ids_of(1) == [1, 3]
    assert store.vector_ids_of(0) == [0]
    assert store.vector_ids_of(2) == [2]
    assert store.vector_ids_of(3) == []
    assert store.vector_ids_of(42) == []


def test_load_filter_columns(store: ProductStore) -> None:
    cols = store.load_filter_columns()
    # Indexed by vector id: vector 0 -> row 0, vectors 1 and 3 -> row 1, vector 2 -> row 2.
    np.testing.assert_array_equal(cols.vector_product, [0, 1, 2, 1])
    assert cols.vector_product.dtype == np.int32
    # What the shopper pays: BAG-2 and W-2 are on sale.
    np.testing.assert_array_equal(cols.price_paid, [19.5, 199.0, 99.99, 1200.0])
    assert cols.price_paid.dtype == np.float64
    # Only out_of_stock is false: preorder (W-1) and backorder (W-2) can be ordered.
    np.testing.assert_array_equal(cols.in_stock, [True, False, True, True])
    assert cols.in_stock.dtype == np.bool_
    assert cols.categories == ("Bags", "Watches")
    np.testing.assert_array_equal(cols.category_code, [0, 0, 1, 1])
    assert cols.category_code.dtype == np.int32
    assert cols.tiers == ("budget", "mid", "premium")
    np.testing.assert_array_equal(cols.tier_code, [0, 2, 0, 1])
    assert cols.tier_code.dtype == np.int32
    assert cols.max_vectors_per_product == 2
    # The codes decode back to each product's own fields.
    for p in PRODUCTS:
        assert cols.categories[cols.category_code[p.row]] == p.category
        assert cols.tiers[cols.tier_code[p.row]] == p.tier


def test_brand_availability_and_variant_group_columns(store: ProductStore) -> None:
    cols = store.load_filter_columns()
    assert cols.brands == ("Acme", "Tick")
    np.testing.assert_array_equal(cols.brand_code, [-1, 0, 1, 1])  # BAG-1 has no brand
    assert cols.availabilities == ("backorder", "in_stock", "out_of_stock", "preorder")
    np.testing.assert_array_equal(cols.availability_code, [1, 2, 3, 0])
    # BAG-2 (G7) and W-2 (G9) are groups of one; BAG-1 and W-1 have none, so each is its own group.
    assert len(set(cols.group_code.tolist())) == 4
    assert [cols.variant_rows(row).tolist() for row in range(4)] == [[0], [1], [2], [3]]
    assert cols.max_vectors_per_group == 2  # BAG-2's two vectors


def test_variant_groups_gather_their_products(tmp_path: Path) -> None:
    groups = ["G", None, "G", "H", "", "H", "G"]
    products = [
        ProductRecord(row, f"S{row}", "t", None, "Bags", 10.0, "EUR", "budget", group, None, None)
        for row, group in enumerate(groups)
    ]
    path = tmp_path / "g.sqlite"
    write_store(path, products, [(row, row, f"{row}.jpg") for row in range(len(groups))] + [(7, 2, "x.jpg")])
    s = ProductStore(path)
    try:
        cols = s.load_filter_columns()
        assert [cols.variant_rows(row).tolist() for row in range(len(groups))] == [
            [0, 2, 6],
            [1],
            [0, 2, 6],
            [3, 5],
            [4],
            [3, 5],
            [0, 2, 6],
        ]
        assert len(set(cols.group_code.tolist())) == 4  # G, H and the two products without a group
        assert cols.max_vectors_per_group == 4  # G: rows 0, 2 (two vectors) and 6
    finally:
        s.close()


def test_max_vectors_per_product_one(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    write_store(path, PRODUCTS[:2], [(0, 0, "a.jpg"), (1, 1, "b.jpg")])
    s = ProductStore(path)
    try:
        assert s.load_filter_columns().max_vectors_per_product == 1
    finally:
        s.close()


def test_empty_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    write_store(path, [], [])
    s = ProductStore(path)
    try:
        cols = s.load_filter_columns()
        assert cols.vector_product.shape == (0,)
        assert cols.price_paid.shape == (0,) and cols.in_stock.shape == (0,)
        assert cols.categories == () and cols.tiers == ()
        assert cols.max_vectors_per_product == 0
        assert s.product_by_sku("x") is None
    finally:
        s.close()


def test_duplicate_sku_is_refused(tmp_path: Path) -> None:
    dup = ProductRecord(1, "BAG-1", "Copy", None, "Bags", 1.0, "EUR", "budget", None, None, None)
    with pytest.raises(sqlite3.IntegrityError):
        write_store(tmp_path / "dup.sqlite", [PRODUCTS[0], dup], [])


def test_database_is_opened_read_only(db: Path, store: ProductStore) -> None:
    before = db.read_bytes()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store._conn.execute("INSERT INTO vectors VALUES (9, 0, 'x.jpg')")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store._conn.execute("DELETE FROM products")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store._conn.execute("UPDATE products SET price = 0")
    assert db.read_bytes() == before
    assert store.product_by_sku("BAG-1") == PRODUCTS[0]


def test_missing_database_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    with pytest.raises(sqlite3.OperationalError):
        ProductStore(missing)
    assert not missing.exists()


@pytest.mark.parametrize("folder", ["with space", "shop#1", "what?", "p%41", "ünï"])
def test_awkward_folder_names(tmp_path: Path, folder: str) -> None:
    # The store is opened through an SQLite URI; the path must be escaped, not pasted in.
    (tmp_path / folder).mkdir()
    path = tmp_path / folder / "products.sqlite"
    write_store(path, PRODUCTS, VECTORS)
    s = ProductStore(path)
    try:
        assert s.product_by_sku("W-1") == PRODUCTS[2]
    finally:
        s.close()


def test_relative_path(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(db.parent)
    s = ProductStore(Path(db.name))
    try:
        assert s.product_by_sku("W-1") == PRODUCTS[2]
    finally:
        s.close()


def test_shared_across_threads(store: ProductStore) -> None:
    skus = [p.sku for p in PRODUCTS] * 25
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(store.product_by_sku, skus))
    assert [p.sku if p else None for p in found] == skus
