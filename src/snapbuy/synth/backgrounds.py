"""Backgrounds with the statistics of real photographs.

A model trained only on drawn clutter (flat rectangles, lines, simple blobs) learns to subtract that
clutter and fails on a product held in front of a real room, a street or a screen
(docs/experiments/2026-12-05-generalising-demo.md). These backgrounds come from sources whose
statistics are those of photographs: windows of real photographs shipped inside installed packages,
textures with a natural 1/f amplitude spectrum, and "dead leaves" (occluding discs with power-law
sizes, a classic model of natural-image statistics).

The photographs are split by package. Training draws windows of scikit-learn's sample photographs;
matplotlib's sample photograph is never used in training or model selection, only by the held-out
evaluation (synth/held_out.py), so that evaluation measures a background source the model never saw.
scikit-image's sample photographs are used nowhere: they are kept for independent evaluation."""

from __future__ import annotations

import functools
import importlib.util
import random
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from snapbuy.errors import SnapbuyError

PhotoSet = Literal["training", "held_out"]
# (package, folder inside it, photographs): located without importing the package.
PHOTO_SOURCES: dict[PhotoSet, tuple[str, str, tuple[str, ...]]] = {
    "training": ("sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
    "held_out": ("matplotlib", "mpl-data/sample_data", ("grace_hopper.jpg",)),
}
# A window spans this share of its photograph's shorter side: from a detail to the whole scene.
WINDOW_SHARE = (0.2, 1.0)
# Texture amplitude falls as 1/f**beta; natural photographs sit near beta = 1, but at
# the small sizes drawn here a steeper fall looks more like a surface than like grain.
SPECTRAL_BETA = (1.3, 2.0)
TEXTURE_SIDE = 192  # textures are made at most this large and scaled up: they are smooth anyway


class MissingPhotosError(SnapbuyError):
    """A package that ships background photographs is not installed."""


def _package_folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPhotosError(
            f"the demo's background photographs come with the {package!r} package, which is not "
            "installed: reinstall snapbuy with its dependencies (make install)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def package_photos(which: PhotoSet) -> tuple[Image.Image, ...]:
    """The photographs of one set, RGB, read once per process."""
    package, folder, names = PHOTO_SOURCES[which]
    root = _package_folder(package) / folder
    photos = []
    for name in names:
        path = root / name
        if not path.is_file():
            raise MissingPhotosError(f"{path} is missing from the installed {package!r} package")
        with Image.open(path) as image:
            photos.append(image.convert("RGB"))
    return tuple(photos)


def photo_window(rng: random.Random, photo: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A random window of `photo` with `size`'s aspect, maybe mirrored, scaled to `size`."""
    w, h = size
    pw, ph = photo.size
    side = rng.uniform(*WINDOW_SHARE) * min(pw, ph)
    scale = side / max(w, h)
    cw, ch = min(pw, w * scale), min(ph, h * scale)
    x0, y0 = rng.uniform(0, pw - cw), rng.uniform(0, ph - ch)
    window = photo.resize(size, Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        window = window.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return window


def spectral_texture(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Coloured noise whose amplitude spectrum falls as 1/f**beta, as a photograph's does."""
    w, h = size
    scale = min(1.0, TEXTURE_SIDE / max(w, h))
    tw, th = max(8, int(w * scale)), max(8, int(h * scale))
    noise = np.random.default_rng(rng.getrandbits(32))
    fy, fx = np.fft.fftfreq(th)[:, None], np.fft.rfftfreq(tw)[None, :]
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0
    falloff = radius ** -rng.uniform(*SPECTRAL_BETA)
    falloff[0, 0] = 0.0
    # A strong luminance field and two weaker colour fields: natural scenes vary more in light than hue.
    fields = []
    for _ in range(3):
        spectrum = np.fft.rfft2(noise.standard_normal((th, tw))) * falloff
        field = np.fft.irfft2(spectrum, s=(th, tw))
        fields.append((field - field.mean()) / (field.std() + 1e-8))
    luminance, chroma_a, chroma_b = fields
    base = np.array([rng.uniform(60, 200) for _ in range(3)])
    contrast = rng.uniform(20, 60)
    pixels = (
        base[None, None, :]
        + contrast * luminance[..., None]
        + 0.35 * contrast * (chroma_a[..., None] * np.array([1.0, -0.5, -0.5]))
        + 0.35 * contrast * (chroma_b[..., None] * np.array([0.0, 1.0, -1.0]))
    )
    texture = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return texture.resize(size, Image.Resampling.BICUBIC) if (tw, th) != size else texture


def dead_leaves(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Overlapping discs whose radii follow a power law (density ~ r**-3): scale-invariant like a
    photograph, with sharp occluding edges that a smooth texture lacks."""
    w, h = size
    scale = min(1.0, 2 * TEXTURE_SIDE / max(w, h))
    tw, th = max(8, int(w * scale)), max(8, int(h * scale))
    image = Image.new("RGB", (tw, th), tuple(rng.randint(40, 220) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    r_min, r_max = 0.01 * max(tw, th), 0.4 * max(tw, th)
    # Inverse-CDF sampling of p(r) ~ r**-3 on [r_min, r_max].
    a, b = r_min**-2, r_max**-2
    hue = [rng.randint(40, 220) for _ in range(3)]
    for _ in range(rng.randint(150, 400)):
        r = (a - rng.random() * (a - b)) ** -0.5
        x, y = rng.uniform(-r, tw + r), rng.uniform(-r, th + r)
        shade = rng.uniform(0.4, 1.3)
        colour = tuple(max(0, min(255, int(c * shade + rng.uniform(-40, 40)))) for c in hue)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return image.resize(size, Image.Resampling.BILINEAR) if (tw, th) != size else image


def natural_background(
    rng: random.Random, size: tuple[int, int], photos: PhotoSet = "training"
) -> Image.Image:
    """One background from a natural-statistics source: a window of one of `photos`' photographs
    (half the time), a 1/f texture or dead leaves."""
    draw = rng.random()
    if draw < 0.5:
        choices = package_photos(photos)
        return photo_window(rng, choices[rng.randrange(len(choices))], size)
    if draw < 0.75:
        return spectral_texture(rng, size)
    return dead_leaves(rng, size)
