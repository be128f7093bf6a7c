"""Localiser training: its cell targets, its scene pool, and a short run that learns to find products in
scenes it never saw."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from snapbuy.catalog import read_catalog
from snapbuy.crops import box_iou
from snapbuy.demo.generate import write_demo_data
from snapbuy.demo.photos import TRAINING_FAMILIES, shopper_photo
from snapbuy.imaging import load_image_file
from snapbuy.localiser import ProductLocaliser, ProductMapNet
from snapbuy.train import localiser_training
from snapbuy.train.localiser_training import (
    RENDER_FACTOR,
    SCENE_SIZE,
    box_coverage,
    localiser_cut_out,
    scene_pool,
    train_localiser,
)


@pytest.fixture(scope="module")
def cut_outs(tmp_path_factory: pytest.TempPathFactory) -> list[Image.Image]:
    out = tmp_path_factory.mktemp("shop")
    write_demo_data(out, n_products=40, seed=5, n_queries=0, workers=1)
    products = read_catalog(out / "catalog.csv").products
    return [
        localiser_cut_out(load_image_file(p.images[0].path, max_bytes=10**8, max_pixels=10**8))  # type: ignore[arg-type]
        for p in products
    ]


def test_each_cell_learns_the_share_of_it_inside_the_box() -> None:
    cells = box_coverage((8, 16, 24, 24), (32, 32))
    expected = np.zeros((4, 4))
    expected[2, 1:3] = 1.0
    np.testing.assert_array_equal(cells, expected)
    assert box_coverage((4, 0, 8, 8), (32, 32))[0, 0] == 0.5


def test_scene_pool_is_deterministic_and_every_scene_holds_its_product(cut_outs: list[Image.Image]) -> None:
    scenes, targets = scene_pool(cut_outs, 6, seed=3)
    again, _ = scene_pool(cut_outs, 6, seed=3)
    assert scenes.shape == (6, 3, SCENE_SIZE[1], SCENE_SIZE[0]) and scenes.dtype == torch.uint8
    assert torch.equal(scenes, again)
    assert (targets.flatten(1).max(dim=1).values == 1.0).all()  # a product spans at least one whole cell


def test_scenes_are_drawn_large_and_shrunk_with_their_box(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[int, int]] = []

    def white_square_photo(
        sprite: Image.Image, rng: random.Random, size: tuple[int, int], families: frozenset[str]
    ) -> tuple[Image.Image, tuple[int, int, int, int]]:
        asked.append(size)
        photo = Image.new("RGB", size)
        box = (24 * RENDER_FACTOR, 32 * RENDER_FACTOR, 72 * RENDER_FACTOR, 96 * RENDER_FACTOR)
        photo.paste((255, 255, 255), box)
        return photo, box

    monkeypatch.setattr(localiser_training, "shopper_photo", white_square_photo)
    scenes, targets = scene_pool([Image.new("RGBA", (8, 8))], 2, seed=0)
    assert asked == [(SCENE_SIZE[0] * RENDER_FACTOR, SCENE_SIZE[1] * RENDER_FACTOR)] * 2
    np.testing.assert_array_equal(targets[0, 0], box_coverage((24, 32, 72, 96), SCENE_SIZE))
    assert scenes[0, :, 64, 48].tolist() == [255, 255, 255] and scenes[0, :, 10, 10].tolist() == [0, 0, 0]


def _mean_iou(localiser: ProductLocaliser, cut_outs: list[Image.Image]) -> float:
    rng = random.Random(777)  # scenes the training pool never held
    scores = []
    for i in range(40):
        photo, box = shopper_photo(cut_outs[i % len(cut_outs)], rng, (300, 400), TRAINING_FAMILIES)
        found = localiser.find(photo)
        scores.append(0.0 if found is None else box_iou(found, box))
    return float(np.mean(scores))


def test_short_training_finds_products_in_new_scenes(cut_outs: list[Image.Image]) -> None:
    localiser, losses = train_localiser(cut_outs, seconds=15, seed=0)
    assert len(losses) >= 20 and np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    torch.manual_seed(0)
    untrained = ProductLocaliser(ProductMapNet().eval(), localiser.input_side)
    trained_iou, untrained_iou = _mean_iou(localiser, cut_outs), _mean_iou(untrained, cut_outs)
    assert trained_iou > untrained_iou + 0.15, (trained_iou, untrained_iou)


def test_at_least_one_step_even_without_time(cut_outs: list[Image.Image], tmp_path: Path) -> None:
    localiser, losses = train_localiser(cut_outs, seconds=0, seed=0, pool_size=8)
    assert len(losses) == 1
    localiser.save(tmp_path / "x.localiser.pt")
    assert ProductLocaliser.load(tmp_path / "x.localiser.pt").input_side == min(SCENE_SIZE)
