"""Cut a catalog product out of its studio background, for compositing into training scenes."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

# A catalog background counts as plain when its border pixels stay this close to their median colour.
PLAIN_BORDER_SPREAD = 12.0
# Pixels this close to the background colour are background, but only where connected to the border:
# a white watch face inside the product stays part of it.
BACKGROUND_TOLERANCE = 12.0
# The product mask shrinks by one pixel (a 3x3 minimum filter): anti-aliasing and JPEG ringing leave a
# light ring around a studio product that no shopper photo has, and a localiser (or model) trained on
# cut-outs that kept it can learn to look for the ring instead of the product.
EDGE_TRIM = 3


def border_connected(candidates: np.ndarray) -> np.ndarray:
    """The part of a boolean mask connected (4-neighbourhood) to the image border. Grows from the
    border one pixel per round with whole-array shifts: fast in numpy, unlike a per-pixel flood fill."""
    region = np.zeros_like(candidates)
    region[0], region[-1], region[:, 0], region[:, -1] = (
        candidates[0],
        candidates[-1],
        candidates[:, 0],
        candidates[:, -1],
    )
    while True:
        grown = region.copy()
        grown[1:] |= region[:-1]
        grown[:-1] |= region[1:]
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown &= candidates
        if np.array_equal(grown, region):
            return region
        region = grown


def cut_out(image: Image.Image) -> Image.Image:
    """RGBA sprite of the product. A busy background (lifestyle shot) can't be cut out reliably,
    so then the whole image becomes the sprite."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    background = np.median(border, axis=0)
    if np.abs(border - background).max(axis=1).mean() > PLAIN_BORDER_SPREAD:
        return image.convert("RGBA")
    near = np.abs(rgb - background).max(axis=2) <= BACKGROUND_TOLERANCE
    alpha = Image.fromarray(np.where(border_connected(near), 0, 255).astype(np.uint8))
    alpha = alpha.filter(ImageFilter.MinFilter(EDGE_TRIM))
    alpha = alpha.filter(ImageFilter.GaussianBlur(0.7))  # soften the edge like a real cut-out
    sprite = image.convert("RGBA")
    sprite.putalpha(alpha)
    return sprite
