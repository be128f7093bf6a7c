from __future__ import annotations

import random

import numpy as np
from PIL import Image

from snapbuy.synth.camera import lit_unevenly, shrunk_and_enlarged, soft_shadow, tone_curve


def _grey(value: int = 128, size: tuple[int, int] = (120, 90)) -> Image.Image:
    return Image.new("RGB", size, (value, value, value))


def test_uneven_light_makes_one_side_brighter_than_the_other() -> None:
    lit = np.asarray(lit_unevenly(_grey(), random.Random(0)), dtype=np.float64).mean(axis=2)
    corners = [lit[0, 0], lit[0, -1], lit[-1, 0], lit[-1, -1]]
    assert max(corners) - min(corners) > 10
    assert abs(lit.mean() - 128) < 6  # light moves across the photo, it does not change overall


def test_a_tone_curve_moves_mid_greys_and_keeps_black_and_white() -> None:
    ramp = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (4, 1))).convert("RGB")
    shifted = np.asarray(tone_curve(ramp, random.Random(5), gamma=(0.6, 0.6)))[0, :, 0]
    assert shifted[0] == 0 and shifted[255] == 255
    assert shifted[128] > 128 + 20  # gamma under 1 brightens the middle


def test_a_soft_shadow_darkens_part_of_the_photo_smoothly() -> None:
    shaded = np.asarray(soft_shadow(_grey(200), random.Random(1)), dtype=np.int16)[..., 0]
    assert shaded.min() < 170 and shaded.max() == 200
    assert np.abs(np.diff(shaded, axis=1)).max() < 25  # blurred edge, not a cut-out


def test_shrink_and_enlarge_keeps_the_size_and_loses_fine_detail() -> None:
    checker = (np.indices((80, 80)).sum(axis=0) % 2 * 255).astype(np.uint8)
    image = Image.fromarray(checker).convert("RGB")
    out = shrunk_and_enlarged(image, random.Random(2))
    assert out.size == image.size
    assert np.asarray(out, dtype=np.float64).std() < 0.5 * checker.std()
