from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from snapbuy.catalog import read_catalog
from snapbuy.cli import app
from snapbuy.demo.generate import (
    HELD_OUT_FILE,
    QUERIES_FILE,
    QUERY_FIELDS,
    write_demo_data,
    write_demo_shop,
    write_held_out_photos,
    write_shopper_photos,
)
from snapbuy.demo.shop import generate_products
from snapbuy.evaluation import read_queries
from snapbuy.imaging import load_image_file
from snapbuy.synth.held_out import HELD_OUT_ONLY
from snapbuy.synth.photos import EXIF_ORIENTATION


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


def test_the_shop_first_and_its_photos_later_make_the_same_files(shop: Path, tmp_path: Path) -> None:
    # The demo indexes the shop before it draws any shopper photo, then draws them for the evaluation.
    made = write_demo_shop(tmp_path, n_products=40, seed=3)
    assert (made.products, made.queries) == (40, 0) and not (tmp_path / QUERIES_FILE).exists()
    assert write_shopper_photos(tmp_path, n_products=40, seed=3, n_queries=30, workers=1) == 30
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


HELD_OUT_PHOTOS = 16


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("held_out")
    assert (
        write_held_out_photos(out, n_products=40, seed=3, n_photos=HELD_OUT_PHOTOS, workers=2)
        == HELD_OUT_PHOTOS
    )
    return out


def held_out_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / HELD_OUT_FILE).open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_held_out_photos_are_deterministic_whatever_the_workers(held_out: Path, tmp_path: Path) -> None:
    write_held_out_photos(tmp_path, n_products=40, seed=3, n_photos=HELD_OUT_PHOTOS, workers=1)
    assert tree_digest(tmp_path) == tree_digest(held_out)


def test_held_out_photos_are_deterministic_across_processes(held_out: Path, tmp_path: Path) -> None:
    """Another interpreter iterates sets of family names in another order: no draw may depend on it."""
    code = (
        "import sys; from pathlib import Path; from snapbuy.demo.generate import write_held_out_photos; "
        "write_held_out_photos(Path(sys.argv[1]), n_products=40, seed=3, "
        f"n_photos={HELD_OUT_PHOTOS}, workers=1)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "7"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env)
    assert tree_digest(tmp_path) == tree_digest(held_out)


def test_held_out_csv_has_the_queries_columns_and_the_shops_ground_truth(held_out: Path) -> None:
    with (held_out / HELD_OUT_FILE).open(newline="") as fh:
        assert next(csv.reader(fh)) == QUERY_FIELDS
    rows = read_queries(held_out / HELD_OUT_FILE)  # as `snapbuy eval` reads it
    assert len(rows) == HELD_OUT_PHOTOS
    products = {p.sku: p for p in generate_products(40, seed=3)}
    for row in rows:
        product = products[row["sku"]]
        assert (row["item_group_id"], row["category"]) == (product.group, product.category)
        assert row["lookalike_of"] == (product.lookalike_of or "")
        assert set(row["families"].split()) & HELD_OUT_ONLY  # every photo carries an unseen family
        assert (held_out / row["image"]).is_file()
    assert len({row["sku"] for row in rows}) > HELD_OUT_PHOTOS // 2  # picked across the shop


def test_held_out_photos_are_upright_after_exif_with_the_box_inside(held_out: Path) -> None:
    rows = held_out_rows(held_out)
    for row in rows:
        families = set(row["families"].split())
        image = load_image_file(held_out / row["image"], max_bytes=10**7, max_pixels=10**8)
        width, height = image.size
        assert width < height and 1000 <= height <= 1600
        with Image.open(held_out / row["image"]) as stored:
            orientation = stored.getexif().get(EXIF_ORIENTATION, 1)
            assert str(orientation) == row["exif_orientation"]
            assert ("sideways" in families) == (orientation in {6, 8})
            if orientation != 1:
                assert stored.size == (height, width)  # stored on its side, turned upright on decoding
        x0, y0, x1, y1 = map(int, row["product_box"].split())
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert 0.2 <= max(x1 - x0, y1 - y0) / min(width, height) <= 0.85
    assert any(row["exif_orientation"] in {"6", "8"} for row in rows)


def test_held_out_jpeg_quality_follows_the_jpeg_family(held_out: Path) -> None:
    def coarseness(path: Path) -> float:
        """The mean step of the luminance quantisation table: larger for a lower JPEG quality."""
        with Image.open(path) as stored:
            tables = getattr(stored, "quantization", {})
            return float(sum(tables[0])) / len(tables[0])

    rows = held_out_rows(held_out)
    rough = [coarseness(held_out / r["image"]) for r in rows if "jpeg" in r["families"].split()]
    clean = [coarseness(held_out / r["image"]) for r in rows if "jpeg" not in r["families"].split()]
    assert rough and clean
    assert max(clean) < min(rough)  # quality 90 against 30-75


def test_demo_data_writes_held_out_photos_on_request(tmp_path: Path) -> None:
    made = CliRunner().invoke(
        app, ["demo-data", str(tmp_path), "--products", "20", "--queries", "2", "--held-out", "3"]
    )
    assert made.exit_code == 0, made.output
    assert str(tmp_path / HELD_OUT_FILE) in made.output
    assert len(held_out_rows(tmp_path)) == 3 and (tmp_path / QUERIES_FILE).is_file()
