"""Time-budgeted training of the product localiser.

The training images are small shopper-photo-like scenes drawn by the demo's own photo code with the
shop's cut-out products, using only the training families (perspective, sensor noise and JPEG stay
held out, as for the CLIP model). Each map cell learns how much of it lies inside the product's box:
a label per cell teaches figure/ground far faster than one label per image. A pool drawn once and
mirrored at random is enough here; drawing fresh scenes every step would cost as much as the step."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from snapbuy.demo.photos import TRAINING_FAMILIES, shopper_photo
from snapbuy.localiser import CELL, ProductLocaliser, ProductMapNet
from snapbuy.train.schedule import warmup_cosine
from snapbuy.train.views import cut_out

log = logging.getLogger(__name__)

# Training scenes: 3:4 portrait at the localiser's input size (a short side of 96 pixels), drawn at
# RENDER_FACTOR times that size and shrunk, as a phone photo is shrunk for the localiser: scenes drawn
# small directly have other edges and line widths (300 demo photos: 0.70 -> 0.75 of products found).
SCENE_SIZE = (96, 128)
RENDER_FACTOR = 3
# The scene pool grows with the time budget (each scene is seen about eight times), up to POOL_SIZE.
POOL_SIZE = 4000
SCENES_PER_SECOND = 45
BATCH = 64
LEARNING_RATE = 3e-3
WARMUP_FRACTION = 0.05
# Cut-outs are made from catalog images shrunk to this side: the scenes are small.
CUT_OUT_SIDE = 128


def localiser_cut_out(image: Image.Image) -> Image.Image:
    """The product cut out of its studio shot, at a size fit for the localiser's small scenes."""
    small = image.copy()
    small.thumbnail((CUT_OUT_SIDE, CUT_OUT_SIDE), Image.Resampling.BILINEAR)
    return cut_out(small)


def box_coverage(box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """[H/CELL, W/CELL] share of each map cell inside `box` (x0, y0, x1, y1), the cells' targets."""
    width, height = size
    inside = np.zeros((height, width), dtype=np.float32)
    x0, y0, x1, y1 = box
    inside[y0:y1, x0:x1] = 1.0
    coverage: np.ndarray = inside.reshape(height // CELL, CELL, width // CELL, CELL).mean(axis=(1, 3))
    return coverage


def _shrunk(box: tuple[int, int, int, int], factor: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return round(x0 / factor), round(y0 / factor), round(x1 / factor), round(y1 / factor)


def scene_pool(sprites: Sequence[Image.Image], count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` scenes [count, 3, H, W] (uint8) with one product each, and their cell targets."""
    rng = random.Random(seed)
    width, height = SCENE_SIZE
    pixels = np.zeros((count, height, width, 3), dtype=np.uint8)
    targets = np.zeros((count, 1, height // CELL, width // CELL), dtype=np.float32)
    drawn = (width * RENDER_FACTOR, height * RENDER_FACTOR)
    for i in range(count):
        photo, box = shopper_photo(sprites[rng.randrange(len(sprites))], rng, drawn, TRAINING_FAMILIES)
        pixels[i] = np.asarray(photo.resize(SCENE_SIZE, Image.Resampling.BILINEAR))
        targets[i, 0] = box_coverage(_shrunk(box, RENDER_FACTOR), SCENE_SIZE)
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(targets)


def train_localiser(
    sprites: Sequence[Image.Image],
    seconds: float,
    seed: int,
    *,
    pool_size: int | None = None,
    width: int = 16,
) -> tuple[ProductLocaliser, list[float]]:
    """Train on scenes of `sprites` (RGBA cut-outs) for `seconds` (at least one step). Returns the
    localiser and the loss of every step."""
    torch.manual_seed(seed)
    if pool_size is None:
        pool_size = int(min(POOL_SIZE, max(BATCH, seconds * SCENES_PER_SECOND)))
    scenes, targets = scene_pool(sprites, pool_size, seed)
    log.info("training the product localiser for %.0f s on %d scenes", seconds, pool_size)
    net = ProductMapNet(width).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    batch = min(BATCH, pool_size)
    losses: list[float] = []
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or not losses:
        idx = torch.randint(0, pool_size, (batch,), generator=generator)
        mirror = (torch.rand(batch, generator=generator) < 0.5).view(-1, 1, 1, 1)
        views = scenes[idx].float() / 255.0
        views, cells = (
            torch.where(mirror, views.flip(3), views),
            torch.where(mirror, targets[idx].flip(3), targets[idx]),
        )
        share_done = elapsed / seconds if seconds > 0 else 1.0
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(share_done, LEARNING_RATE, WARMUP_FRACTION)
        logits = net(views.contiguous(memory_format=torch.channels_last))
        loss = F.binary_cross_entropy_with_logits(logits, cells)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(float(loss.detach()))
    return ProductLocaliser(net.eval(), min(SCENE_SIZE)), losses
