"""The product localiser: the blob it picks, the box it derives, its file by the checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from snapbuy.crops import square_around
from snapbuy.embed.spec import parse_model_spec
from snapbuy.errors import ModelError
from snapbuy.localiser import (
    CELL,
    ProductLocaliser,
    ProductMapNet,
    localiser_for,
    localiser_path,
    strongest_blob,
)


def test_the_blob_with_most_probability_wins_and_diagonals_do_not_connect() -> None:
    probability = np.zeros((6, 8))
    probability[1:3, 1:3] = 0.9  # 4 cells, mass 3.6
    probability[4, 5:8] = 0.6  # 3 cells, mass 1.8
    probability[3, 3] = 0.99  # touches the first blob only at a corner
    assert strongest_blob(probability) == (1, 1, 3, 3)
    probability[5, 0:8] = 0.7  # a row joining the 3 cells above it: mass 7.4
    assert strongest_blob(probability) == (0, 4, 8, 6)
    assert strongest_blob(np.full((4, 4), 0.2)) is None


class BrightIsProduct(ProductMapNet):
    """Calls a map cell product when its pixels are bright: a stand-in net with a known answer."""

    def __init__(self, never: bool = False) -> None:
        super().__init__(width=4)
        self.never = never

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        brightness = torch.nn.functional.avg_pool2d(pixels.mean(dim=1, keepdim=True), CELL)
        return torch.full_like(brightness, -9.0) if self.never else 18.0 * (brightness - 0.5)


def test_found_box_is_in_photo_pixels_and_the_crop_is_a_square_around_it() -> None:
    photo = Image.new("RGB", (960, 1280), "black")  # 10x the 96x128 the net sees: a map of 12x16 cells
    photo.paste((255, 255, 255), (160, 320, 480, 640))  # cells 2-6 across, 4-8 down, 80 px each
    localiser = ProductLocaliser(BrightIsProduct(), input_side=96)
    probability = localiser.probability_map(photo)
    assert probability.shape == (16, 12) and probability[5, 3] > 0.99 and probability[0, 0] < 0.01
    found = localiser.find(photo)
    assert found == (160, 320, 480, 640)
    left, top, right, bottom = square_around(found)  # the crop search embeds
    assert right - left == bottom - top == 352
    nothing = ProductLocaliser(BrightIsProduct(never=True), input_side=96)
    assert nothing.find(photo) is None


def test_the_map_is_the_mean_of_the_photo_and_its_mirror_image() -> None:
    photo = Image.new("RGB", (96, 128), "black")
    photo.paste((255, 255, 255), (0, 0, 16, 16))  # top-left 2x2 cells; the mirror pass sees top-right
    probability = ProductLocaliser(BrightIsProduct(), input_side=96).probability_map(photo)
    assert probability[0, 0] == pytest.approx(1.0, abs=1e-3) and probability[0, 11] < 1e-3


def test_saved_localiser_loads_next_to_its_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    localiser = ProductLocaliser(ProductMapNet(width=4).eval(), input_side=64)
    checkpoint = tmp_path / "shop.pt"
    checkpoint.write_bytes(b"checkpoint")
    assert localiser_path(checkpoint) == tmp_path / "shop.localiser.pt"
    spec = parse_model_spec(f"{tmp_path / 'shop.json'}:{checkpoint}")
    assert localiser_for(spec) is None  # trained without one
    localiser.save(localiser_path(checkpoint))
    loaded = localiser_for(spec)
    assert loaded is not None and loaded.input_side == 64
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (80, 64, 3), dtype=np.uint8))
    np.testing.assert_allclose(loaded.probability_map(photo), localiser.probability_map(photo), atol=1e-6)
    assert localiser_for(parse_model_spec("ViT-B-32:random")) is None


def test_a_damaged_localiser_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "shop.localiser.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match=r"shop\.localiser\.pt"):
        ProductLocaliser.load(path)
