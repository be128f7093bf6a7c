"""Localiser training: its map targets, its scene pool with close-ups, and a short run that learns to find
products in scenes it never saw."""

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
from snapbuy.imaging import load_image_file
from snapbuy.localiser import BOX_UNIT, CELL, ProductLocaliser, ProductMapNet, absolute_boxes
from snapbuy.synth.photos import TRAINING_FAMILIES, shopper_photo
from snapbuy.train import localiser_training
from snapbuy.train.localiser_training import (
    BATCH,
    CLOSE_UP_MARGINS,
    DECOY_EVERY,
    DECOY_PRODUCT_SHARE,
    INPUT_SIDE,
    POOL_SIZE,
    RENDER_FACTOR,
    SCENES_PER_SECOND,
    SCENES_PER_STEP,
    _clear_of,
    localiser_cut_out,
    localiser_loss,
    map_targets,
    mirrored,
    scene_pool,
    scene_pool_size,
    scene_size,
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


def test_the_centre_target_peaks_at_the_box_centre_and_every_cell_knows_the_box() -> None:
    boxes = torch.tensor([[8.0, 16.0, 40.0, 48.0]])  # centre (24, 32): the middle of cell (3, 2)... edge
    centre, edges = map_targets(boxes, 8, 8)
    assert centre.shape == (1, 1, 8, 8) and edges.shape == (1, 4, 8, 8)
    peak = np.unravel_index(int(centre[0, 0].argmax()), (8, 8))
    assert tuple(int(i) for i in peak) in {(3, 2), (3, 3), (4, 2), (4, 3)}  # the four cells around (24, 32)
    assert float(centre[0, 0, 0, 7]) < 0.01
    # Whichever cell reads its edges back, it gets the same box.
    corners = absolute_boxes(edges[0])
    np.testing.assert_allclose(corners[:, 0, 0], [8, 16, 40, 48], atol=1e-5)
    np.testing.assert_allclose(corners[:, 7, 5], [8, 16, 40, 48], atol=1e-5)
    assert float(edges[0, 0, 0, 0]) == pytest.approx((8 - CELL / 2) / BOX_UNIT)


def test_a_perfect_map_costs_less_than_a_wrong_box() -> None:
    boxes = torch.tensor([[8.0, 16.0, 40.0, 48.0]])
    centre, edges = map_targets(boxes, 8, 8)
    logit = torch.logit(centre.clamp(1e-4, 1 - 1e-4))
    perfect = localiser_loss(torch.cat([logit, edges], dim=1), boxes)
    shifted = localiser_loss(torch.cat([logit, edges + 0.2], dim=1), boxes)
    assert float(shifted) > float(perfect) + 0.15


def test_mirroring_moves_the_box_with_the_pixels() -> None:
    pixels = torch.zeros(2, 3, 16, 32)
    pixels[:, :, 4:8, 2:10] = 1.0
    boxes = torch.tensor([[2.0, 4.0, 10.0, 8.0]] * 2)
    flipped, flipped_boxes = mirrored(pixels, boxes, torch.tensor([True, False]))
    assert flipped_boxes.tolist() == [[22.0, 4.0, 30.0, 8.0], [2.0, 4.0, 10.0, 8.0]]
    assert float(flipped[0, 0, 5, 25]) == 1.0 and float(flipped[0, 0, 5, 5]) == 0.0
    assert torch.equal(flipped[1], pixels[1])


def test_scene_pool_is_deterministic_and_every_image_holds_its_product(cut_outs: list[Image.Image]) -> None:
    pool = scene_pool(cut_outs, 6, seed=3)
    again = scene_pool(cut_outs, 6, seed=3)
    side = INPUT_SIDE
    scene = scene_size(INPUT_SIDE)
    decoys = 6 // DECOY_EVERY
    assert pool.scenes.shape == (6, 3, scene[1], scene[0]) and pool.scenes.dtype == torch.uint8
    assert pool.close_ups.shape == (6 + decoys, 3, side, side)
    assert pool.close_up_present.tolist() == [True] * 6 + [False] * decoys
    assert torch.equal(pool.scenes, again.scenes) and torch.equal(pool.close_ups, again.close_ups)
    close_up_boxes = pool.close_up_boxes[:6]
    for boxes, (width, height) in ((pool.scene_boxes, scene), (close_up_boxes, (side, side))):
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all()
    # A close-up is framed around its product: the box's longer side fills most of it.
    longer = torch.maximum(
        close_up_boxes[:, 2] - close_up_boxes[:, 0], close_up_boxes[:, 3] - close_up_boxes[:, 1]
    )
    assert (longer >= side / CLOSE_UP_MARGINS[1] - 2).all()
    assert (pool.close_up_boxes[6:] == 0).all()


def test_decoys_frame_distractors_clear_of_the_product() -> None:
    product = (100, 100, 200, 200)
    far = (300, 300, 340, 330)  # its widest close-up stays away from the product
    touching = (190, 120, 230, 160)  # overlaps the product: a close-up of it would show much of it
    outside = (400, 10, 400, 50)  # drawn wholly past the photo's edge: no box
    assert _clear_of(product, [far, touching, outside]) == [far]
    # A 40 px distractor centred at y 150 has a widest close-up 74 px high (1.85 x 40), all of it over
    # the product's rows: it is clear while its square reaches at most 1500 / 74 = 20.3 px into the
    # product (DECOY_PRODUCT_SHARE of 100 x 100), i.e. while its centre lies at x >= 216.7.
    assert CLOSE_UP_MARGINS[1] == pytest.approx(1.85) and DECOY_PRODUCT_SHARE == 0.15
    assert _clear_of(product, [(197, 130, 237, 170)]) == [(197, 130, 237, 170)]  # centre 217: 20 px in
    assert _clear_of(product, [(195, 130, 235, 170)]) == []  # centre 215: 22 px in


@pytest.mark.parametrize("distractor_clear", [True, False])
def test_scenes_are_drawn_large_and_shrunk_with_their_box(
    monkeypatch: pytest.MonkeyPatch, distractor_clear: bool
) -> None:
    asked: list[tuple[int, int]] = []
    corner = (40, 60) if distractor_clear else (12, 12)  # else mostly under the product

    def white_square_photo(
        sprite: Image.Image,
        rng: random.Random,
        size: tuple[int, int],
        families: frozenset[str],
        distractor_boxes: list[tuple[int, int, int, int]] | None = None,
    ) -> tuple[Image.Image, tuple[int, int, int, int]]:
        """The product a white square, and one grey distractor square (under the product, if not clear)."""
        asked.append(size)
        photo = Image.new("RGB", size)
        box = (8 * RENDER_FACTOR, 8 * RENDER_FACTOR, 24 * RENDER_FACTOR, 24 * RENDER_FACTOR)
        x, y = corner
        distractor = (
            x * RENDER_FACTOR,
            y * RENDER_FACTOR,
            (x + 16) * RENDER_FACTOR,
            (y + 16) * RENDER_FACTOR,
        )
        photo.paste((128, 128, 128), distractor)
        photo.paste((255, 255, 255), box)  # the product in front
        if distractor_boxes is not None:
            distractor_boxes.append(distractor)
        return photo, box

    monkeypatch.setattr(localiser_training, "shopper_photo", white_square_photo)
    pool = scene_pool([Image.new("RGBA", (8, 8))], DECOY_EVERY, seed=0)
    assert asked == [(72 * RENDER_FACTOR, 96 * RENDER_FACTOR)] * DECOY_EVERY
    assert pool.scene_boxes[0].tolist() == [8, 8, 24, 24]
    assert pool.scenes[0, :, 16, 16].tolist() == [255, 255, 255]
    assert pool.scenes[0, :, 60, 60].tolist() == [0, 0, 0]
    # The close-up's box is where its white pixels are. The decoy shows none of the product: it frames
    # the distractor, as the second look frames a first look's false find, when that lies clear of the
    # product, else a square away from both.
    x0, y0, x1, y1 = (round(v) for v in pool.close_up_boxes[0].tolist())
    crop = pool.close_ups[0, 0]
    assert int(crop[(y0 + y1) // 2, (x0 + x1) // 2]) == 255
    assert int(crop[(y0 + y1) // 2, max(0, x0 - 3)]) < 128 or x0 < 3
    decoy = pool.close_ups[len(pool.scenes), 0]
    side = decoy.shape[0]
    assert not bool((decoy > 200).any())
    assert (int(decoy[side // 2, side // 2]) == 128) == distractor_clear


# Three seeds of this run, trained / untrained mean IoU: 0.403 / 0.0, 0.320 / 0.0, 0.447 / 0.0 (the test
# needs a gain of 0.15); 120 steps gave 0.296 with seed 0, 100 steps 0.247.
SHORT_TRAINING_STEPS = 150


def _mean_iou(localiser: ProductLocaliser, cut_outs: list[Image.Image]) -> float:
    rng = random.Random(777)  # scenes the training pool never held
    scores = []
    for i in range(40):
        photo, box = shopper_photo(cut_outs[i % len(cut_outs)], rng, (300, 400), TRAINING_FAMILIES)
        found = localiser.find(photo)
        scores.append(0.0 if found is None else box_iou(found, box))
    return float(np.mean(scores))


def test_short_training_finds_products_in_new_scenes(cut_outs: list[Image.Image]) -> None:
    # Bounded by steps, with time to spare however busy the machine: the same localiser every run.
    localiser, losses = train_localiser(cut_outs, seconds=3600, seed=0, max_steps=SHORT_TRAINING_STEPS)
    assert len(losses) == SHORT_TRAINING_STEPS and np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    torch.manual_seed(0)
    untrained = ProductLocaliser(ProductMapNet().eval(), localiser.input_side)
    trained_iou, untrained_iou = _mean_iou(localiser, cut_outs), _mean_iou(untrained, cut_outs)
    assert trained_iou > untrained_iou + 0.15, (trained_iou, untrained_iou)


def test_the_steps_end_a_training_long_before_its_time(cut_outs: list[Image.Image]) -> None:
    _, losses = train_localiser(cut_outs, seconds=3600, seed=0, max_steps=3, pool_size=8)
    assert len(losses) == 3


def test_the_scene_pool_is_sized_by_the_budget_that_ends_first() -> None:
    assert scene_pool_size(15) == 15 * SCENES_PER_SECOND  # time alone
    assert scene_pool_size(3600) == POOL_SIZE  # capped
    assert scene_pool_size(3600, max_steps=150) == 150 * SCENES_PER_STEP  # the steps end it first
    assert scene_pool_size(10, max_steps=1000) == 10 * SCENES_PER_SECOND  # the time ends it first
    assert scene_pool_size(3600, max_steps=1) == BATCH  # at least one batch
    assert scene_pool_size(10**6, max_steps=10**6) == POOL_SIZE


def test_at_least_one_step_even_without_time(cut_outs: list[Image.Image], tmp_path: Path) -> None:
    localiser, losses = train_localiser(cut_outs, seconds=0, seed=0, pool_size=8)
    assert len(losses) == 1
    localiser.save(tmp_path / "x.localiser.pt")
    assert ProductLocaliser.load(tmp_path / "x.localiser.pt").input_side == INPUT_SIDE


def test_scenes_are_three_by_four_in_whole_cells() -> None:
    assert scene_size(INPUT_SIDE) == (72, 96)
    assert scene_size(96) == (96, 128)
    assert scene_size(40) == (40, 56)  # 53.3 rounded to whole cells of 8


def test_a_localiser_trained_at_another_side_sees_photos_at_it(
    cut_outs: list[Image.Image], tmp_path: Path
) -> None:
    pool = scene_pool(cut_outs, 2, seed=0, input_side=96)
    assert pool.scenes.shape[2:] == (128, 96) and pool.close_ups.shape[2:] == (96, 96)
    localiser, _ = train_localiser(cut_outs, seconds=0, seed=0, pool_size=2, input_side=96)
    localiser.save(tmp_path / "x.localiser.pt")
    assert ProductLocaliser.load(tmp_path / "x.localiser.pt").input_side == 96
