from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from snapbuy.synth.photos import TRAINING_FAMILIES
from snapbuy.synth.pictures import picture_photo

SIZE = (240, 320)
RED = (250, 0, 0)


def red_sprite() -> Image.Image:
    """A pure red disc on transparency: no card, background or light in these tests is pure red."""
    sprite = Image.new("RGBA", (60, 90), (0, 0, 0, 0))
    sprite.paste(Image.new("RGBA", (40, 70), (*RED, 255)), (10, 10))
    return sprite


def red_pixels(photo: Image.Image) -> np.ndarray:
    pixels = np.asarray(photo).astype(int)
    return (pixels[..., 0] > 200) & (pixels[..., 1] < 40) & (pixels[..., 2] < 40)


@pytest.mark.parametrize("seed", range(8))
def test_box_bounds_the_product_on_its_card(seed: int) -> None:
    families = frozenset({"rotation"})  # no light or blur: the product keeps its exact colour
    photo, box = picture_photo(red_sprite(), random.Random(seed), SIZE, families)
    assert photo.size == SIZE and photo.mode == "RGB"
    ys, xs = np.nonzero(red_pixels(photo))
    assert len(xs) > 50
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= SIZE[0] and 0 <= y0 < y1 <= SIZE[1]
    # Every product pixel lies in the box, and the box is no looser than a resampled edge.
    assert xs.min() >= x0 - 1 and xs.max() <= x1 and ys.min() >= y0 - 1 and ys.max() <= y1
    assert xs.min() <= x0 + 2 and xs.max() >= x1 - 3 and ys.min() <= y0 + 2 and ys.max() >= y1 - 3


def test_the_product_sits_on_a_light_card_not_on_the_scene() -> None:
    # No clutter: the scene is a plain surface; upright, so the card's ground shows left of the product.
    checked = 0
    for seed in range(8):
        photo, (x0, y0, _, y1) = picture_photo(red_sprite(), random.Random(seed), SIZE, frozenset())
        if x0 < 3:
            continue  # the card's margin ran off the photo on this side
        beside = np.asarray(photo).astype(int)[(y0 + y1) // 2, x0 - 2]
        assert beside.min() >= 200  # the card's light ground, between the product and the scene
        checked += 1
    assert checked >= 4


def test_same_seed_same_photo_and_distractors_reported() -> None:
    first: list[tuple[int, int, int, int]] = []
    second: list[tuple[int, int, int, int]] = []
    a = picture_photo(red_sprite(), random.Random(5), SIZE, TRAINING_FAMILIES, first)
    b = picture_photo(red_sprite(), random.Random(5), SIZE, TRAINING_FAMILIES, second)
    assert np.array_equal(np.asarray(a[0]), np.asarray(b[0])) and a[1] == b[1]
    assert first == second and 2 <= len(first) <= 6
