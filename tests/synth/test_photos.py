from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image

from snapbuy.demo.shop import PALETTE, generate_products
from snapbuy.demo.sprites import draw_sprite
from snapbuy.imaging import decode_image
from snapbuy.synth.photos import (
    FAMILIES,
    HELD_OUT_FROM_TRAINING,
    TRAINING_FAMILIES,
    encode_jpeg,
    phone_size,
    several_products_photo,
    shopper_photo,
    studio_shot,
)


def sprite() -> Image.Image:
    product = generate_products(40, seed=2)[0]
    return draw_sprite(product.design, PALETTE[product.colour])


def test_training_families_leave_some_out() -> None:
    assert HELD_OUT_FROM_TRAINING and HELD_OUT_FROM_TRAINING <= FAMILIES
    assert not TRAINING_FAMILIES & HELD_OUT_FROM_TRAINING


def test_phone_sizes_are_portrait_and_1000_to_1600_px() -> None:
    rng = random.Random(0)
    for _ in range(50):
        w, h = phone_size(rng)
        assert w < h and 1000 <= h <= 1600


def test_photo_is_deterministic_for_a_seed() -> None:
    a = shopper_photo(sprite(), random.Random(3), (300, 400))[0]
    b = shopper_photo(sprite(), random.Random(3), (300, 400))[0]
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_families_change_the_photo() -> None:
    plain = np.asarray(shopper_photo(sprite(), random.Random(1), (300, 400), frozenset())[0])
    busy = np.asarray(shopper_photo(sprite(), random.Random(1), (300, 400), FAMILIES)[0])
    corner = plain[:20, :20].reshape(-1, 3)
    assert (corner == corner[0]).all()  # no clutter: a plain background
    assert busy.std() > plain.std() * 0.5 and not np.array_equal(plain, busy)


def test_sideways_jpeg_carries_exif_that_turns_it_upright() -> None:
    photo = shopper_photo(sprite(), random.Random(4), (300, 400), frozenset({"clutter"}))[0]
    data = encode_jpeg(photo, random.Random(4), frozenset(), sideways=6)
    stored = Image.open(io.BytesIO(data))
    assert stored.size == (400, 300)  # pixels lie on their side
    upright = decode_image(data, max_bytes=10**7, max_pixels=10**8)
    assert upright.size == (300, 400)
    diff = np.abs(np.asarray(upright, dtype=int) - np.asarray(photo, dtype=int)).mean()
    assert diff < 4  # only JPEG loss


def test_jpeg_family_compresses_harder() -> None:
    photo = shopper_photo(sprite(), random.Random(5), (600, 800))[0]
    clean = encode_jpeg(photo, random.Random(0), frozenset(), None)
    rough = encode_jpeg(photo, random.Random(0), frozenset({"jpeg"}), None)
    assert len(rough) < len(clean)


def test_studio_shot_is_the_product_on_a_plain_background() -> None:
    shot = np.asarray(studio_shot(sprite()))
    assert shot.shape == (256, 256, 3)
    assert tuple(shot[0, 0]) == (250, 250, 250)


def test_product_box_is_where_the_product_landed() -> None:
    for seed in range(5):
        families = frozenset({"placement", "rotation"})  # plain background: the product is all that differs
        photo, box = shopper_photo(sprite(), random.Random(seed), (300, 400), families)
        pixels = np.asarray(photo, dtype=int)
        differs = np.abs(pixels - pixels[0, 0]).max(axis=2) > 0
        ys, xs = np.nonzero(differs)
        found = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert all(abs(a - b) <= 2 for a, b in zip(found, box, strict=True)), (found, box)


def test_distractor_boxes_are_where_the_distractors_landed() -> None:
    families = frozenset({"distractors", "placement"})  # plain background: only objects differ from it
    boxes: list[tuple[int, int, int, int]] = []
    photo, product_box = shopper_photo(
        sprite(), random.Random(9), (400, 400), families, distractor_boxes=boxes
    )
    assert 2 <= len(boxes) <= 6
    again, _ = shopper_photo(sprite(), random.Random(9), (400, 400), families)
    assert np.array_equal(np.asarray(photo), np.asarray(again))  # asking for the boxes changes nothing
    pixels = np.asarray(photo, dtype=np.int16)
    background = pixels[0, 0]
    drawn = np.abs(pixels - background).max(axis=2) > 20
    covered = np.zeros_like(drawn)
    for x0, y0, x1, y1 in [*boxes, product_box]:
        covered[y0:y1, x0:x1] = True
    # Every object pixel lies in the product's box or a distractor's, and each box holds object pixels.
    assert not np.any(drawn & ~covered)
    assert all(drawn[y0:y1, x0:x1].any() for x0, y0, x1, y1 in boxes if x1 > x0 and y1 > y0)


def test_several_products_lie_apart_inside_the_photo_each_where_its_box_says() -> None:
    products = generate_products(40, seed=2)[:3]
    colours = [PALETTE[p.colour] for p in products]
    sprites = [draw_sprite(p.design, c) for p, c in zip(products, colours, strict=True)]
    for seed in range(4):
        photo, boxes = several_products_photo(
            sprites, random.Random(seed), (600, 800), frozenset({"placement"})
        )
        assert photo.size == (600, 800) and len(boxes) == 3
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            assert 0 <= x0 < x1 <= 600 and 0 <= y0 < y1 <= 800
            assert 0.2 * 600 <= max(x1 - x0, y1 - y0) <= 0.45 * 600
            for other in boxes[i + 1 :]:  # no two overlap
                assert x1 <= other[0] or other[2] <= x0 or y1 <= other[1] or other[3] <= y0
        # Without colour casts each product's own colour shows inside its box.
        pixels = np.asarray(photo)
        for (x0, y0, x1, y1), colour in zip(boxes, colours, strict=True):
            inside = pixels[y0:y1, x0:x1].reshape(-1, 3).astype(int)
            assert (np.abs(inside - np.array(colour[:3])).sum(axis=1) < 30).mean() > 0.05
