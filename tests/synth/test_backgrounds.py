from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from snapbuy.synth import backgrounds
from snapbuy.synth.backgrounds import (
    MissingPhotosError,
    dead_leaves,
    natural_background,
    package_photos,
    photo_window,
    spectral_texture,
)


def test_training_and_held_out_photos_come_from_different_packages() -> None:
    training, held_out = package_photos("training"), package_photos("held_out")
    assert len(training) >= 2 and len(held_out) >= 1
    assert all(photo.mode == "RGB" and min(photo.size) >= 300 for photo in training + held_out)
    training_pixels = {np.asarray(photo).tobytes()[:4096] for photo in training}
    assert all(np.asarray(photo).tobytes()[:4096] not in training_pixels for photo in held_out)
    packages = {source[0] for source in backgrounds.PHOTO_SOURCES.values()}
    assert len(packages) == 2 and "skimage" not in packages  # scikit-image's photos stay unused


def test_a_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backgrounds.PHOTO_SOURCES, "held_out", ("no_such_package_xyz", "images", ("a.jpg",)))
    package_photos.cache_clear()
    try:
        with pytest.raises(MissingPhotosError, match="no_such_package_xyz"):
            package_photos("held_out")
    finally:
        package_photos.cache_clear()


def test_a_missing_photo_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(backgrounds.PHOTO_SOURCES, "held_out", ("snapbuy", "demo", ("gone.jpg",)))
    package_photos.cache_clear()
    try:
        with pytest.raises(MissingPhotosError, match=r"gone\.jpg"):
            package_photos("held_out")
    finally:
        package_photos.cache_clear()


def test_windows_take_the_asked_size_and_differ() -> None:
    rng = random.Random(1)
    photo = package_photos("training")[0]
    windows = [photo_window(rng, photo, (120, 160)) for _ in range(4)]
    assert all(w.size == (120, 160) for w in windows)
    assert len({w.tobytes() for w in windows}) == 4


def _spectrum_slope(image: Image.Image) -> float:
    """The slope of log amplitude against log frequency, averaged over rings."""
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    amplitude = np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean())))
    h, w = grey.shape
    y, x = np.indices(grey.shape)
    radius = np.hypot(x - w // 2, y - h // 2).astype(int)
    rings = np.bincount(radius.ravel(), amplitude.ravel()) / np.maximum(np.bincount(radius.ravel()), 1)
    freqs = np.arange(2, min(h, w) // 2)
    return float(np.polyfit(np.log(freqs), np.log(rings[freqs]), 1)[0])


def test_textures_fall_off_like_photographs_and_white_noise_does_not() -> None:
    rng = random.Random(2)
    texture = spectral_texture(rng, (192, 192))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (192, 192, 3), dtype=np.uint8))
    assert _spectrum_slope(texture) < -1.0  # a photograph's amplitude falls about as 1/f
    assert _spectrum_slope(noise) > -0.3
    assert np.asarray(texture).std() > 5  # not flat


def test_dead_leaves_have_sharp_edges_and_many_regions() -> None:
    image = dead_leaves(random.Random(3), (200, 150))
    assert image.size == (200, 150)
    colours = {tuple(p) for p in np.asarray(image).reshape(-1, 3)}
    assert len(colours) > 20


def test_natural_backgrounds_are_deterministic_by_seed() -> None:
    first = [natural_background(random.Random(seed), (64, 48)).tobytes() for seed in range(6)]
    again = [natural_background(random.Random(seed), (64, 48)).tobytes() for seed in range(6)]
    assert first == again and len(set(first)) == 6
