from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from snapbuy.catalog import read_catalog
from snapbuy.demo.generate import write_demo_data
from snapbuy.imaging import load_image_file


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shop")
    write_demo_data(out, n_products=40, seed=3, n_queries=30, workers=2)
    return out


def test_generation_is_deterministic_whatever_the_workers(shop: Path, tmp_path: Path) -> None:
    write_demo_data(tmp_path, n_products=40, seed=3, n_queries=30, workers=1)
    assert tree_digest(tmp_path) == tree_digest(shop)


def test_generation_is_deterministic_across_processes(shop: Path, tmp_path: Path) -> None:
    """Another interpreter hashes strings differently (PYTHONHASHSEED): the photos must not depend on
    the order in which a set of transform families happens to iterate."""
    code = (
        "import sys; from pathlib import Path; from snapbuy.demo.generate import write_demo_data; "
        "write_demo_data(Path(sys.argv[1]), n_products=40, seed=3, n_queries=30, workers=1)"
    )
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        subprocess.run(
            [sys.executable, "-c", code, str(out)],
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert tree_digest(out) == tree_digest(shop)


def test_catalog_reads_back_with_merchant_center_names(shop: Path) -> None:
    catalog = read_catalog(shop / "catalog.csv")
    assert len(catalog.products) == 40 and catalog.currency == "NOK"
    assert not catalog.rejects
    for product in catalog.products:
        assert product.images[0].path is not None and product.images[0].path.is_file()
        assert product.item_group_id and product.brand


def test_ground_truth_matches_the_catalog(shop: Path) -> None:
    products = {p.sku: p for p in read_catalog(shop / "catalog.csv").products}
    with (shop / "queries.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30
    for row in rows:
        product = products[row["sku"]]
        assert (row["item_group_id"], row["category"]) == (product.item_group_id, product.category)
        assert "placement" in row["families"].split()
    assert any(row["exif_orientation"] in {"6", "8"} for row in rows)


def test_shopper_photos_are_phone_sized_and_upright_after_exif(shop: Path) -> None:
    with (shop / "queries.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        image = load_image_file(shop / row["image"], max_bytes=10**7, max_pixels=10**8)
        width, height = image.size
        assert width < height and 1000 <= height <= 1600
        if row["exif_orientation"] != "1":
            with Image.open(shop / row["image"]) as stored:
                assert stored.size == (height, width)


def test_queries_give_the_product_box_inside_the_upright_photo(shop: Path) -> None:
    with (shop / "queries.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        x0, y0, x1, y1 = map(int, row["product_box"].split())
        image = load_image_file(shop / row["image"], max_bytes=10**7, max_pixels=10**8)
        assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
        # 25-80 % of the frame, measured on the product's longer side against the shorter photo side
        assert 0.2 <= max(x1 - x0, y1 - y0) / min(image.size) <= 0.85
