"""`snapbuy train-localiser`'s training: a localiser alone from a catalog's cut-outs, bounded by steps."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from snapbuy.errors import InvalidParameterError
from snapbuy.imaging import load_image_file
from snapbuy.localiser import ProductLocaliser
from snapbuy.train.localiser_only import train_localiser_only
from tests.conftest import SAMPLE_CATALOG


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("localiser") / "shop.localiser.pt"
    report = train_localiser_only(
        SAMPLE_CATALOG, out, minutes=30, max_steps=3, device="cpu", precision="fp32"
    )
    assert (report.path, report.products, report.steps, report.precision) == (out, 24, 3, "fp32")
    return out


def test_it_writes_a_localiser_that_loads_and_looks(trained: Path) -> None:
    localiser = ProductLocaliser.load(trained)
    photo = next((SAMPLE_CATALOG.parent / "images").glob("*.jpg"))
    box = localiser.find(load_image_file(photo, max_bytes=10_000_000, max_pixels=40_000_000))
    assert box is None or (box[2] > box[0] and box[3] > box[1])


def test_the_output_must_be_named_as_a_localiser(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"must end in \.localiser\.pt"):
        train_localiser_only(SAMPLE_CATALOG, tmp_path / "shop.pt", minutes=1, max_steps=1)
    assert not (tmp_path / "shop.pt").exists()


def test_a_catalog_with_one_product_is_refused(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shutil.copytree(SAMPLE_CATALOG.parent, shop)
    lines = (shop / "catalog.csv").read_text().splitlines()
    (shop / "catalog.csv").write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(InvalidParameterError, match="fewer than two products"):
        train_localiser_only(shop / "catalog.csv", tmp_path / "x.localiser.pt", minutes=1, max_steps=1)
