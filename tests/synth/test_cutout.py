from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from snapbuy.synth.cutout import cut_out


def test_cut_out_keeps_light_parts_inside_the_product() -> None:
    image = Image.new("RGB", (100, 100), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 80, 80), fill=(30, 30, 30))
    draw.ellipse((35, 35, 65, 65), fill=(245, 245, 245))  # a white watch face, close to the background
    alpha = np.asarray(cut_out(image))[:, :, 3]
    assert alpha[2, 2] == 0  # background
    assert alpha[50, 50] == 255  # the face stays product
    assert alpha[25, 50] == 255  # the case


def test_cut_out_leaves_the_light_edge_of_a_studio_shot_behind() -> None:
    # Anti-aliasing and JPEG leave a light ring around a studio product: no shopper photo has it, so
    # a cut-out that kept it would teach the localiser to look for it.
    image = Image.new("RGB", (100, 100), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 80, 80), fill=(225, 225, 225))  # the light ring, 1 px wide
    draw.rectangle((21, 21, 79, 79), fill=(30, 30, 30))
    alpha = np.asarray(cut_out(image))[:, :, 3].astype(int)
    assert alpha[20, 50] < 64 and alpha[50, 80] < 64  # the ring is (nearly) transparent
    assert alpha[50, 50] == 255 and alpha[25, 50] == 255  # the product itself is whole


def test_busy_background_is_kept_whole() -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    alpha = np.asarray(cut_out(image))[:, :, 3]
    assert (alpha == 255).all()


def test_border_connected_ignores_enclosed_regions() -> None:
    from snapbuy.synth.cutout import border_connected

    mask = np.ones((7, 7), dtype=bool)
    mask[1:6, 1] = mask[1:6, 5] = mask[1, 1:6] = mask[5, 1:6] = False  # a closed ring
    region = border_connected(mask)
    assert region[0].all() and region[:, 0].all()
    assert not region[3, 3]  # inside the ring: not connected to the border
