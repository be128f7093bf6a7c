"""Light and camera effects a phone photo carries, on PIL images: uneven light, a tone curve, a soft
shadow, a shrink-and-enlarge. Training uses these (synth/photos.py); the held-out evaluation adds
effects training never sees (synth/held_out.py)."""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def lit_unevenly(img: Image.Image, rng: random.Random, strength: float = 0.45) -> Image.Image:
    """A linear light falloff across the photo in a random direction: a window on one side."""
    w, h = img.size
    angle = rng.uniform(0, 2 * math.pi)
    amount = rng.uniform(0.1, strength)
    xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    gain = 1.0 + 2 * amount * (xs * math.cos(angle) + ys * math.sin(angle))
    pixels = np.asarray(img, dtype=np.float32) * gain[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def tone_curve(img: Image.Image, rng: random.Random, gamma: tuple[float, float] = (0.7, 1.45)) -> Image.Image:
    """A gamma shift, as a phone's tone mapping or an exposure setting gives."""
    g = rng.uniform(*gamma)
    table = [max(0, min(255, round(255 * (v / 255) ** g))) for v in range(256)]
    return img.point(table * 3)


def soft_shadow(img: Image.Image, rng: random.Random) -> Image.Image:
    """A blurred dark patch over part of the photo: the photographer's or a shelf's shadow."""
    w, h = img.size
    small = (max(8, w // 8), max(8, h // 8))
    mask = Image.new("L", small, 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = rng.uniform(0, small[0]), rng.uniform(0, small[1])
    rx, ry = rng.uniform(0.2, 0.6) * small[0], rng.uniform(0.2, 0.6) * small[1]
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=int(255 * rng.uniform(0.25, 0.6)))
    mask = mask.filter(ImageFilter.GaussianBlur(max(1.0, min(small) * 0.08))).resize(
        (w, h), Image.Resampling.BILINEAR
    )
    dark = Image.new("RGB", (w, h), (0, 0, 0))
    return Image.composite(dark, img, mask)


def shrunk_and_enlarged(img: Image.Image, rng: random.Random) -> Image.Image:
    """The photo shrunk to a fraction of its size and enlarged again: a cheap camera or a messaging
    app's recompression."""
    w, h = img.size
    factor = rng.uniform(0.2, 0.5)
    small = img.resize((max(1, int(w * factor)), max(1, int(h * factor))), Image.Resampling.BILINEAR)
    return small.resize((w, h), Image.Resampling.BILINEAR)
