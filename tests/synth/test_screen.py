from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from snapbuy.demo.shop import PALETTE, generate_products
from snapbuy.demo.sprites import draw_sprite
from snapbuy.synth.photos import studio_shot
from snapbuy.synth.screen import product_mask, screen_photo

SIZE = (360, 480)
ROOM = (120, 130, 110)
PRODUCT_BOX = (60, 40, 231, 231)  # of studio()'s product


def studio(fill: tuple[int, int, int] = (200, 60, 50)) -> Image.Image:
    """A catalog shot: a product (a rectangle and a disc) on the plain studio background."""
    shot = Image.new("RGB", (256, 256), (250, 250, 250))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((60, 40, 190, 200), fill=fill)
    draw.ellipse((150, 150, 230, 230), fill=fill)
    return shot


def room() -> Image.Image:
    return Image.new("RGB", SIZE, ROOM)


def high_frequency(image: Image.Image) -> float:
    """The median difference between a pixel and its 3 x 3 neighbourhood's mean: zero on flat colour
    however many edges a minority of pixels lie on, a few levels where a fine pattern covers it."""
    grey = image.convert("L")
    smooth = grey.filter(ImageFilter.BoxBlur(1))
    return float(np.median(np.abs(np.asarray(grey, dtype=float) - np.asarray(smooth, dtype=float))))


def test_product_mask_is_what_differs_from_the_corner() -> None:
    mask = product_mask(studio())
    assert mask.shape == (256, 256)
    ys, xs = np.nonzero(mask)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == PRODUCT_BOX


@pytest.mark.parametrize("seed", range(6))
def test_box_is_where_the_product_landed(seed: int) -> None:
    # The same random stream with the product in two colours: everything but the product's own pixels
    # is identical, so the pixels that differ show where the product landed, whatever the transforms.
    red, box = screen_photo(studio((200, 60, 50)), random.Random(seed), SIZE, room())
    blue, same_box = screen_photo(studio((50, 60, 200)), random.Random(seed), SIZE, room())
    assert box == same_box
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= SIZE[0] and 0 <= y0 < y1 <= SIZE[1]
    differs = np.abs(np.asarray(red, dtype=int) - np.asarray(blue, dtype=int)).max(axis=2) > 8
    ys, xs = np.nonzero(differs)
    found = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    # Resampling spreads the product's edge by a pixel or two.
    assert all(abs(a - b) <= 3 for a, b in zip(found, box, strict=True)), (found, box)


def test_product_spans_a_quarter_to_most_of_the_shorter_side() -> None:
    products = generate_products(40, seed=2)
    for seed, product in enumerate(products[:12]):
        shot = studio_shot(draw_sprite(product.design, PALETTE[product.colour]))
        photo, (x0, y0, x1, y1) = screen_photo(shot, random.Random(seed), SIZE, room())
        assert photo.size == SIZE and photo.mode == "RGB"
        assert 0.2 <= max(x1 - x0, y1 - y0) / min(SIZE) <= 0.85


def test_display_stands_in_the_room_with_a_dark_bezel() -> None:
    for seed in range(6):
        photo, _ = screen_photo(studio(), random.Random(seed), SIZE, room())
        pixels = np.asarray(photo, dtype=int).reshape(-1, 3)
        colours, counts = np.unique(pixels, axis=0, return_counts=True)
        dimmed_room = colours[counts.argmax()]
        # The room, dimmed but of its own hue, still shows around a display that fills much of the photo.
        assert dimmed_room[1] > dimmed_room[0] > dimmed_room[2]
        assert 0.05 < counts.max() / len(pixels) < 0.9
        # The bezel is darker than the room.
        assert (pixels.max(axis=1) < dimmed_room.min() - 5).mean() > 0.003


def test_screen_carries_moire_that_a_studio_shot_placed_in_the_room_lacks() -> None:
    grey = (140, 150, 160)
    for seed in range(6):
        photo, box = screen_photo(studio(grey), random.Random(seed), SIZE, room())
        x0, y0, x1, y1 = box
        placed = room()
        product = studio(grey).crop(PRODUCT_BOX).resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR)
        placed.paste(product, (x0, y0))
        assert high_frequency(placed.crop(box)) == 0
        assert high_frequency(photo.crop(box)) >= 1


def test_photo_is_deterministic_for_a_seed_and_backdrops_of_another_size_are_fitted() -> None:
    a, box_a = screen_photo(studio(), random.Random(5), SIZE, room())
    b, box_b = screen_photo(studio(), random.Random(5), SIZE, room())
    assert np.array_equal(np.asarray(a), np.asarray(b)) and box_a == box_b
    c, _ = screen_photo(studio(), random.Random(5), SIZE, Image.new("RGB", (100, 50), ROOM))
    assert c.size == SIZE
