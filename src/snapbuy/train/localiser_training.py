"""Time-budgeted (optionally also step-bounded) training of the product localiser.

The training images are small shopper-photo-like scenes drawn by the demo's own photo code with the
shop's cut-out products, using only the training families (perspective, sensor noise and JPEG stay
held out, as for the CLIP model); close-ups of each scene, framed as the localiser's second look frames
a first box; and decoys, close-ups of something else in the scene. Every map cell learns whether the
product's centre lies in it and where the product's box edges are. A pool drawn once and mirrored at
random is enough here; drawing fresh scenes every step would cost as much as the step."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from snapbuy.crops import crop_with_edges, overlap_area, square_around
from snapbuy.localiser import (
    BOX_UNIT,
    CELL,
    REFINE_MARGIN,
    ProductLocaliser,
    ProductMapNet,
    cell_centres,
    mirror_boxes,
)
from snapbuy.synth.cutout import cut_out
from snapbuy.synth.photos import TRAINING_FAMILIES, shopper_photo
from snapbuy.synth.pictures import picture_photo
from snapbuy.train.precision import autocast
from snapbuy.train.schedule import budget_progress, warmup_cosine, within_budget

log = logging.getLogger(__name__)

# Training scenes: 3:4 portrait at the localiser's input size (scene_size: a short side of INPUT_SIDE
# pixels by default), drawn at RENDER_FACTOR times that size and shrunk, as a phone photo is shrunk for
# the localiser: scenes drawn small directly have other edges and line widths, and found fewer products
# (docs/experiments/2026-11-30-localiser.md#scenes-drawn-large). 72 rather than 96 by default: the
# second look draws the box, and in a short training the steps a smaller input saves find as many
# products (docs/experiments/2026-11-30-localiser.md#input-side-72).
INPUT_SIDE = 72
RENDER_FACTOR = 4
# The sides a longer training may choose instead (train-localiser --input-side): at 96 the shipped
# demo localiser found small products that it missed at 72, for about 1.7 times the time per step
# (docs/experiments/2026-12-05-localiser-rounds.md).
MIN_INPUT_SIDE, MAX_INPUT_SIDE = 32, 256
# Close-ups for the second look: squares of about REFINE_MARGIN times the product's longer side, their
# centre off the product's by up to CLOSE_UP_SHIFT of that side, as a first look's box often is.
CLOSE_UP_MARGINS = (REFINE_MARGIN - 0.25, REFINE_MARGIN + 0.45)
CLOSE_UP_SHIFT = 0.15
# Every DECOY_EVERY-th scene also gives a decoy: a close-up of something else in it, where the second
# look learns to see no product (it then tells the first look's real find from a vase or a book). A
# decoy frames one of the scene's distractor objects, as the second look frames a first look's false
# find, when one lies clear of the product (its close-up shows at most DECOY_PRODUCT_SHARE of the
# product); otherwise it is a square away from the product.
DECOY_EVERY = 2
DECOY_PRODUCT_SHARE = 0.15
# This share of the scenes shows a picture of the product (a print, a catalog page: synth/pictures.py)
# rather than the product itself: the localiser learns that a product on its own card is the product,
# not the card (docs/experiments/2026-12-05-localiser-pictures.md).
PICTURE_SHARE = 0.25
# The scene pool grows with the time budget, so that each scene is seen about eight times beside the
# model on one thread in float32, up to POOL_SIZE. A pool seen much more often than that is learnt by
# heart, and a larger one gained nothing worth its memory
# (docs/experiments/2026-11-30-localiser.md#scene-pool-size).
POOL_SIZE = 12000
SCENES_PER_SECOND = 30
BATCH = 64
# A training bounded by steps sizes its pool by them instead, as the clock would at about 7.5 steps a
# second (float32, one thread): every other step is a batch of BATCH scenes, so each scene is seen
# about eight times, and the pool does not depend on how fast the machine draws scenes.
SCENES_PER_STEP = 4
# Chosen for float32 trainings, where it found more products than 3e-3 over three seeds
# (docs/experiments/2026-11-30-localiser.md#learning-rate).
LEARNING_RATE = 5e-3
WARMUP_FRACTION = 0.05
# The centre target is a Gaussian bump this wide (as a share of the box's sides, at least half a cell).
CENTRE_SPREAD = 0.15
BOX_LOSS_WEIGHT = 1.0
# Channels of the net's first layer (ProductMapNet doubles them twice). 24 rather than 16: with
# picture scenes it found the product in 90.9 % of the demo's in-distribution photos against 89.5 %,
# for 1.7 times the time per training step and about 1.4 times per photo searched
# (docs/experiments/2026-12-05-localiser-pictures.md).
NET_WIDTH = 24
# Cut-outs are made from catalog images shrunk to this side: the scenes are small.
CUT_OUT_SIDE = 128


def scene_size(input_side: int) -> tuple[int, int]:
    """A 3:4 portrait training scene whose short side is `input_side`, its long side in whole map
    cells."""
    return input_side, max(CELL, round(input_side * 4 / 3 / CELL) * CELL)


def localiser_cut_out(image: Image.Image) -> Image.Image:
    """The product cut out of its studio shot, at a size fit for the localiser's small scenes."""
    small = image.copy()
    small.thumbnail((CUT_OUT_SIDE, CUT_OUT_SIDE), Image.Resampling.BILINEAR)
    return cut_out(small)


@dataclass(frozen=True)
class ScenePool:
    """Training images (uint8 [n, 3, H, W]) with their product's box (float [n, 4], input pixels)."""

    scenes: torch.Tensor
    scene_boxes: torch.Tensor
    close_ups: torch.Tensor  # close-ups of the product, then decoys: close-ups of something else
    close_up_boxes: torch.Tensor  # a decoy's box is all zeros
    close_up_present: torch.Tensor  # bool [n]: the close-up holds the product


def map_targets(
    boxes: torch.Tensor, height: int, width: int, present: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """For boxes [B, 4] (input pixels) on a map of height x width cells: the centre target [B, 1, h, w]
    (1 at the box centre, falling off as a Gaussian; 0 everywhere where `present` is false) and every
    cell's box edges [B, 4, h, w] relative to its centre, in BOX_UNITs."""
    xs, ys = cell_centres(height, width, boxes.device)
    x0, y0, x1, y1 = (boxes[:, i, None, None] for i in range(4))
    spread_x = ((x1 - x0) * CENTRE_SPREAD).clamp(min=CELL / 2)
    spread_y = ((y1 - y0) * CENTRE_SPREAD).clamp(min=CELL / 2)
    dx, dy = (xs - (x0 + x1) / 2) / spread_x, (ys - (y0 + y1) / 2) / spread_y
    centre = torch.exp(-(dx**2 + dy**2) / 2)[:, None]
    if present is not None:
        centre = centre * present.view(-1, 1, 1, 1)
    edges = torch.stack([x0 - xs, y0 - ys, x1 - xs, y1 - ys], dim=1) / BOX_UNIT
    return centre, edges


def localiser_loss(
    out: torch.Tensor, boxes: torch.Tensor, present: torch.Tensor | None = None
) -> torch.Tensor:
    """The centre map by a focal loss, as CenterNet's: the cell nearest the product's centre is the one
    positive, its neighbours are penalised less the nearer they are, and cells the net already gets
    right count little, so the few cells that matter are not drowned by the many easy ones (it found
    more products than binary cross-entropy: docs/experiments/2026-11-30-localiser.md#focal-loss).
    The box edges by L1, weighted towards the central cells, so a decoy teaches only the centre map."""
    centre, edges = map_targets(boxes, out.shape[-2], out.shape[-1], present)
    flat = centre.flatten(1)
    peak = torch.zeros_like(flat).scatter_(1, flat.argmax(dim=1, keepdim=True), 1.0).view_as(centre)
    if present is not None:
        peak = peak * present.view(-1, 1, 1, 1)
    logit = out[:, :1]
    probability = torch.sigmoid(logit)
    positive = -((1 - probability) ** 2) * F.logsigmoid(logit) * peak
    negative = -((1 - centre) ** 4) * probability**2 * F.logsigmoid(-logit) * (1 - peak)
    centre_loss = (positive.sum() + negative.sum()) / peak.sum().clamp(min=1)
    box_loss = (centre * (out[:, 1:] - edges).abs()).sum() / centre.sum().clamp(min=1e-6)
    return centre_loss + BOX_LOSS_WEIGHT * box_loss


def mirrored(
    pixels: torch.Tensor, boxes: torch.Tensor, flip: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images [B, 3, H, W] and their boxes [B, 4], left-right mirrored where `flip` [B] is true."""
    flipped_boxes = mirror_boxes(boxes, pixels.shape[-1], dim=1)
    return (
        torch.where(flip.view(-1, 1, 1, 1), pixels.flip(3), pixels),
        torch.where(flip.view(-1, 1), flipped_boxes, boxes),
    )


def _close_up(
    photo: Image.Image, box: tuple[int, int, int, int], rng: random.Random, out: int, decoy: bool = False
) -> tuple[np.ndarray, list[float]]:
    """A square around `box`, as the second look frames a first box, `out` pixels on a side (the
    localiser's input side), and the box inside it. A decoy is a square of the same size elsewhere in
    the photo, away from the product (its box is all zeros)."""
    x0, y0, x1, y1 = box
    longer = max(x1 - x0, y1 - y0)
    side = longer * rng.uniform(*CLOSE_UP_MARGINS)
    cx = (x0 + x1) / 2 + rng.uniform(-CLOSE_UP_SHIFT, CLOSE_UP_SHIFT) * longer
    cy = (y0 + y1) / 2 + rng.uniform(-CLOSE_UP_SHIFT, CLOSE_UP_SHIFT) * longer
    if decoy:
        cx, cy = _away_from(box, side, photo.size, rng)
    left, top = round(cx - side / 2), round(cy - side / 2)
    right, bottom = left + round(side), top + round(side)
    crop = crop_with_edges(photo, (left, top, right, bottom)).resize((out, out), Image.Resampling.BILINEAR)
    factor = out / (right - left)
    if decoy:
        return np.asarray(crop), [0.0, 0.0, 0.0, 0.0]
    inside = [
        max(0.0, (x0 - left) * factor),
        max(0.0, (y0 - top) * factor),
        min(float(out), (x1 - left) * factor),
        min(float(out), (y1 - top) * factor),
    ]
    return np.asarray(crop), inside


def _away_from(
    box: tuple[int, int, int, int], side: float, size: tuple[int, int], rng: random.Random
) -> tuple[float, float]:
    """The centre of a square of `side` inside the photo that holds at most a sliver of `box` (the
    best of a few random tries: in a small photo the product may be everywhere)."""
    best: tuple[float, float, float] = (float("inf"), 0.0, 0.0)
    for _ in range(8):
        cx = rng.uniform(side / 2, max(side / 2, size[0] - side / 2))
        cy = rng.uniform(side / 2, max(side / 2, size[1] - side / 2))
        overlap = overlap_area(box, (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
        if overlap < best[0]:
            best = (overlap, cx, cy)
    return best[1], best[2]


def _clear_of(
    box: tuple[int, int, int, int], distractors: Sequence[tuple[int, int, int, int]]
) -> list[tuple[int, int, int, int]]:
    """The distractors whose widest close-up (CLOSE_UP_MARGINS) shows at most DECOY_PRODUCT_SHARE of
    the product in `box`."""
    product_area = (box[2] - box[0]) * (box[3] - box[1])
    clear = []
    for d in distractors:
        if d[2] <= d[0] or d[3] <= d[1]:
            continue  # drawn wholly outside the photo
        if overlap_area(box, square_around(d, CLOSE_UP_MARGINS[1])) <= DECOY_PRODUCT_SHARE * product_area:
            clear.append(d)
    return clear


def scene_pool(
    sprites: Sequence[Image.Image], count: int, seed: int, input_side: int = INPUT_SIDE
) -> ScenePool:
    """`count` scenes with one product each, a close-up of each, and a decoy from every DECOY_EVERY-th;
    scenes of scene_size(input_side), close-ups input_side square."""
    rng = random.Random(seed)
    width, height = scene_size(input_side)
    side = input_side
    decoys = count // DECOY_EVERY
    scenes = np.zeros((count, height, width, 3), dtype=np.uint8)
    close_ups = np.zeros((count + decoys, side, side, 3), dtype=np.uint8)
    scene_boxes = np.zeros((count, 4), dtype=np.float32)
    close_up_boxes = np.zeros((count + decoys, 4), dtype=np.float32)
    drawn = (width * RENDER_FACTOR, height * RENDER_FACTOR)
    for i in range(count):
        distractors: list[tuple[int, int, int, int]] = []
        draw_scene = picture_photo if rng.random() < PICTURE_SHARE else shopper_photo
        photo, box = draw_scene(
            sprites[rng.randrange(len(sprites))], rng, drawn, TRAINING_FAMILIES, distractor_boxes=distractors
        )
        scenes[i] = np.asarray(photo.resize((width, height), Image.Resampling.BILINEAR))
        scene_boxes[i] = [v / RENDER_FACTOR for v in box]
        close_ups[i], close_up_boxes[i] = _close_up(photo, box, rng, side)
        if i % DECOY_EVERY == DECOY_EVERY - 1:
            clear = _clear_of(box, distractors)
            close_ups[count + i // DECOY_EVERY], _ = (
                _close_up(photo, rng.choice(clear), rng, side)
                if clear
                else _close_up(photo, box, rng, side, decoy=True)
            )
    return ScenePool(
        torch.from_numpy(scenes).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(scene_boxes),
        torch.from_numpy(close_ups).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(close_up_boxes),
        torch.arange(count + decoys) < count,
    )


def scene_pool_size(seconds: float, max_steps: int | None = None) -> int:
    """Scenes to draw for a training of `seconds` (drawing included) that ends after `max_steps` steps
    if those come first: SCENES_PER_SECOND of the time, or SCENES_PER_STEP of the steps when that is
    fewer, at least one batch and at most POOL_SIZE."""
    scenes = seconds * SCENES_PER_SECOND
    if max_steps is not None:
        scenes = min(scenes, max_steps * SCENES_PER_STEP)
    return int(min(POOL_SIZE, max(BATCH, scenes)))


def train_localiser(
    sprites: Sequence[Image.Image],
    seconds: float,
    seed: int,
    *,
    max_steps: int | None = None,
    pool_size: int | None = None,
    width: int | None = None,
    device: torch.device | None = None,
    precision: str = "fp32",
    start_from: ProductMapNet | None = None,
    input_side: int = INPUT_SIDE,
) -> tuple[ProductLocaliser, list[float]]:
    """Train on scenes of `sprites` (RGBA cut-outs) on `device` (the CPU by default), the net's
    forward passes in `precision` ("fp32", or "bf16" autocast: train/precision.py), alternating
    batches of whole scenes and of close-ups, for `seconds` in all: drawing the scenes, then at least one
    step, and at most `max_steps` when given. `start_from`: a trained net to go on training (its width
    wins over `width`), on scenes this seed draws, with the learning rate warmed up and decayed again.
    `input_side`: the short side of the scenes, and so of photos as the localiser will see them.
    Returns the localiser (on the CPU, where search runs it) and the loss of every step."""
    device = device or torch.device("cpu")
    began = time.perf_counter()
    torch.manual_seed(seed)
    if pool_size is None:
        pool_size = scene_pool_size(seconds, max_steps)
    pool = scene_pool(sprites, pool_size, seed, input_side)
    steps_seconds = max(0.0, seconds - (time.perf_counter() - began))  # what drawing the scenes left
    log.info(
        "training the product localiser for %.0f s%s on %d scenes and their close-ups",
        steps_seconds,
        "" if max_steps is None else f" or {max_steps} steps",
        pool_size,
    )
    net = ProductMapNet(start_from.width if start_from is not None else width or NET_WIDTH)
    if start_from is not None:
        net.load_state_dict(start_from.state_dict())
    net = net.train().to(device).to(memory_format=torch.channels_last)
    # Fused: all parameters in one kernel, a little faster
    # (docs/experiments/2026-11-30-precision-and-cpu-kernels.md#fused-adamw).
    optimizer = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=1e-4, fused=True)
    generator = torch.Generator().manual_seed(seed)
    batch = min(BATCH, pool_size)
    kinds = tuple(
        (images.to(device), boxes.to(device), present.to(device))
        for images, boxes, present in (
            (pool.scenes, pool.scene_boxes, torch.ones(len(pool.scenes), dtype=torch.bool)),
            (pool.close_ups, pool.close_up_boxes, pool.close_up_present),
        )
    )
    losses: list[float] = []
    started = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - started
        if losses and not within_budget(elapsed, steps_seconds, len(losses), max_steps):
            break  # at least one step, however short the budget
        images, boxes, present = kinds[len(losses) % 2]
        # Drawn on the CPU, as ever, then moved: the same batches on a GPU as on the CPU.
        idx = torch.randint(0, len(images), (batch,), generator=generator).to(device)
        flip = (torch.rand(batch, generator=generator) < 0.5).to(device)
        pixels, targets = mirrored(images[idx].float() / 255.0, boxes[idx], flip)
        share_done = budget_progress(elapsed, steps_seconds, len(losses), max_steps)
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(share_done, LEARNING_RATE, WARMUP_FRACTION)
        with autocast(precision, device):
            out = net(pixels.contiguous(memory_format=torch.channels_last))
        loss = localiser_loss(out.float(), targets, present[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(float(loss.detach()))
    return ProductLocaliser(net.to("cpu").eval(), input_side), losses
