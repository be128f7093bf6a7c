"""`snapbuy train-localiser`'s training: a localiser alone from a catalog's cut-outs, bounded by steps."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from snapbuy.errors import InvalidParameterError, ModelError
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


def _distance(a: ProductLocaliser, b: ProductLocaliser) -> float:
    """How far apart two nets' learnt weights are (batch-norm statistics left out: one step moves them
    far from any start)."""
    other = dict(b.net.named_parameters())
    return sum(float((weights - other[name]).detach().norm()) for name, weights in a.net.named_parameters())


def test_a_localiser_goes_on_training_from_the_one_it_starts_from(trained: Path, tmp_path: Path) -> None:
    went_on, fresh = tmp_path / "on.localiser.pt", tmp_path / "fresh.localiser.pt"
    train_localiser_only(
        SAMPLE_CATALOG, went_on, minutes=30, max_steps=2, seed=1, precision="fp32", start_from=trained
    )
    train_localiser_only(SAMPLE_CATALOG, fresh, minutes=30, max_steps=2, seed=1, precision="fp32")
    start = ProductLocaliser.load(trained)
    # Two steps move the weights a little from where they started; a new net starts somewhere else.
    assert (
        0
        < _distance(ProductLocaliser.load(went_on), start)
        < _distance(ProductLocaliser.load(fresh), start) / 10
    )


def test_a_start_that_is_not_a_localiser_stops_before_any_training(tmp_path: Path) -> None:
    not_one = tmp_path / "shop.localiser.pt"
    not_one.write_bytes(b"not a localiser")
    with pytest.raises(ModelError, match="cannot load the product localiser"):
        train_localiser_only(
            SAMPLE_CATALOG, tmp_path / "out.localiser.pt", minutes=1, max_steps=1, start_from=not_one
        )
    assert not (tmp_path / "out.localiser.pt").exists()


@pytest.mark.parametrize("side", [20, 100, 512])
def test_an_input_side_off_the_cells_or_the_range_is_refused(tmp_path: Path, side: int) -> None:
    with pytest.raises(InvalidParameterError, match="--input-side must be a multiple of 8"):
        train_localiser_only(
            SAMPLE_CATALOG, tmp_path / "x.localiser.pt", minutes=1, max_steps=1, input_side=side
        )
