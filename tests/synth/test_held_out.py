from __future__ import annotations

import io
import random
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from snapbuy.demo.shop import PALETTE, generate_products
from snapbuy.demo.sprites import draw_sprite
from snapbuy.imaging import decode_image
from snapbuy.synth import held_out
from snapbuy.synth.backgrounds import PhotoSet, package_photos
from snapbuy.synth.held_out import (
    HELD_OUT_FAMILIES,
    HELD_OUT_ONLY,
    SHARED_WITH_TRAINING,
    held_out_families,
    held_out_jpeg,
    held_out_photo,
    motion_blurred,
    with_cut_out,
    with_finger,
    with_sensor_noise,
)
from snapbuy.synth.photos import EXIF_ORIENTATION, TRAINING_FAMILIES, studio_shot

SIZE = (300, 400)
SURFACE = (180, 190, 170)


def sprite(index: int = 0) -> Image.Image:
    product = generate_products(40, seed=2)[index]
    return draw_sprite(product.design, PALETTE[product.colour])


def surface() -> Image.Image:
    return Image.new("RGB", SIZE, SURFACE)


def test_held_out_families_are_apart_from_training() -> None:
    assert {"held_out_photo", "screen", "sensor_noise", "jpeg", "motion_blur", "perspective"} <= HELD_OUT_ONLY
    assert not HELD_OUT_ONLY & SHARED_WITH_TRAINING
    # The demo's training draws views with TRAINING_FAMILIES only: none of them is held out here.
    assert not HELD_OUT_ONLY & TRAINING_FAMILIES


def test_every_photo_carries_a_held_out_family_and_scenes_come_in_their_shares() -> None:
    drawn = [held_out_families(random.Random(seed)) for seed in range(3000)]
    assert all(families & HELD_OUT_ONLY for families in drawn)
    assert all(families <= HELD_OUT_FAMILIES for families in drawn)
    scenes = Counter(
        "screen" if "screen" in f else "held_out_photo" if "held_out_photo" in f else "plain" for f in drawn
    )
    assert abs(scenes["held_out_photo"] / 3000 - 0.45) < 0.04
    assert abs(scenes["plain"] / 3000 - 0.25) < 0.04
    assert abs(scenes["screen"] / 3000 - 0.30) < 0.04
    assert not any({"defocus", "motion_blur"} <= families for families in drawn)  # at most one blur
    assert all({"screen", "perspective"} <= f for f in drawn if "screen" in f)  # a display is always turned


@pytest.mark.parametrize("seed", range(8))
def test_held_out_photo_is_the_size_asked_with_the_box_inside(seed: int) -> None:
    shape = sprite(seed)
    photo, box, families = held_out_photo(shape, studio_shot(shape), random.Random(seed), SIZE)
    assert photo.size == SIZE and photo.mode == "RGB"
    assert families & HELD_OUT_ONLY and families <= HELD_OUT_FAMILIES
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= SIZE[0] and 0 <= y0 < y1 <= SIZE[1]
    again = held_out_photo(shape, studio_shot(shape), random.Random(seed), SIZE)
    assert np.array_equal(np.asarray(photo), np.asarray(again[0])) and (box, families) == again[1:]


def test_backgrounds_come_from_the_held_out_photographs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[PhotoSet] = []

    def recording(which: PhotoSet) -> tuple[Image.Image, ...]:
        asked.append(which)
        return package_photos(which)

    monkeypatch.setattr(held_out, "package_photos", recording)
    for seed in range(12):
        shape = sprite(seed)
        held_out_photo(shape, studio_shot(shape), random.Random(seed), SIZE)
    assert asked and set(asked) == {"held_out"}


@pytest.mark.parametrize("perspective", [False, True])
def test_cut_out_box_is_where_the_product_landed(perspective: bool) -> None:
    for seed in range(6):
        photo, box = with_cut_out(surface(), sprite(seed), random.Random(seed), perspective)
        pixels = np.asarray(photo, dtype=int)
        ys, xs = np.nonzero(np.abs(pixels - np.array(SURFACE)).max(axis=2) > 0)
        found = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert all(abs(a - b) <= 1 for a, b in zip(found, box, strict=True)), (found, box)
        # 25-80 % of the shorter side, less what may run over the photo's edge.
        assert 0.2 <= max(box[2] - box[0], box[3] - box[1]) / min(SIZE) <= 0.8


def test_perspective_keeps_the_whole_product() -> None:
    # A product turned in perspective keeps all its parts: its visible share of the frame stays about the
    # same as unturned, where a transform that cut it would lose some of its pixels.
    shape = sprite(3)
    for seed in range(6):
        flat, _ = with_cut_out(surface(), shape, random.Random(seed), perspective=False)
        turned, _ = with_cut_out(surface(), shape, random.Random(seed), perspective=True)

        def covered(photo: Image.Image) -> int:
            return int((np.abs(np.asarray(photo, dtype=int) - np.array(SURFACE)).max(axis=2) > 0).sum())

        assert covered(turned) > 0.5 * covered(flat)


def test_finger_reaches_over_the_product_from_outside_it() -> None:
    for seed in range(6):
        photo, box = with_cut_out(surface(), sprite(seed), random.Random(seed), perspective=False)
        held = with_finger(photo, box, random.Random(seed))
        changed = np.abs(np.asarray(held, dtype=int) - np.asarray(photo, dtype=int)).max(axis=2) > 10
        x0, y0, x1, y1 = box
        inside = changed[y0:y1, x0:x1].sum()
        assert inside > 0 and changed.sum() > inside  # over the product's edge, and beyond it


def test_sensor_noise_is_per_pixel_of_a_few_levels() -> None:
    flat = Image.new("RGB", (200, 200), (128, 128, 128))
    noisy = np.asarray(with_sensor_noise(flat, random.Random(1)), dtype=float)
    assert 2 < noisy.std() < 20 and abs(noisy.mean() - 128) < 1.5
    # Neighbours are nearly independent: per-pixel grain, not blotches.
    grey = noisy.mean(axis=2)
    neighbours = np.corrcoef(grey[:, :-1].ravel(), grey[:, 1:].ravel())[0, 1]
    assert neighbours < 0.5
    again = np.asarray(with_sensor_noise(flat, random.Random(1)), dtype=float)
    assert np.array_equal(noisy, again)


def test_motion_blur_smears_an_edge() -> None:
    half = Image.new("RGB", (200, 200), (0, 0, 0))
    half.paste((255, 255, 255), (100, 0, 200, 200))
    blurred = np.asarray(motion_blurred(half, random.Random(0)), dtype=int)
    assert blurred.shape == (200, 200, 3)
    assert ((blurred > 20) & (blurred < 235)).any()  # grey where the edge was smeared
    assert blurred[:, :80].max() < 40 and blurred[:, 120:].min() > 215  # the halves stay dark and light


def test_jpeg_family_compresses_harder_and_sideways_turns_upright_with_exif() -> None:
    shape = sprite(1)
    photo, _, _ = held_out_photo(shape, studio_shot(shape), random.Random(2), (600, 800))
    clean, upright = held_out_jpeg(photo, random.Random(0), frozenset())
    rough, _ = held_out_jpeg(photo, random.Random(0), frozenset({"jpeg"}))
    assert upright == 1 and len(rough) < len(clean)
    data, orientation = held_out_jpeg(photo, random.Random(0), frozenset({"sideways"}))
    assert orientation in {6, 8}
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.size == (800, 600)  # pixels lie on their side
        assert stored.getexif()[EXIF_ORIENTATION] == orientation
    decoded = decode_image(data, max_bytes=10**7, max_pixels=10**8)
    assert decoded.size == (600, 800)
    diff = np.abs(np.asarray(decoded, dtype=int) - np.asarray(photo, dtype=int)).mean()
    assert diff < 4  # only JPEG loss
