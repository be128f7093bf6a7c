"""A product localiser on its own, for a model whose weights `snapbuy train` did not write (a
pretrained open_clip tag): trained on the shop's own catalog cut-outs composited into scenes, with no
CLIP training. The localiser never looks at CLIP's embeddings, so it serves any model; search finds it
through SNAPBUY_LOCALISER."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from snapbuy.atomic import write_bytes_atomically
from snapbuy.catalog import read_catalog
from snapbuy.errors import InvalidParameterError
from snapbuy.localiser import CELL, SUFFIX, ProductLocaliser
from snapbuy.train.device import training_device
from snapbuy.train.localiser_process import cut_outs_of, train_here
from snapbuy.train.localiser_training import INPUT_SIDE, MAX_INPUT_SIDE, MIN_INPUT_SIDE
from snapbuy.train.precision import resolve_precision


@dataclass(frozen=True)
class LocaliserReport:
    path: Path
    products: int
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    precision: str
    input_side: int


def train_localiser_only(
    catalog_path: Path,
    out: Path,
    *,
    minutes: float,
    max_steps: int | None = None,
    seed: int = 0,
    device: str | None = None,
    precision: str = "auto",
    start_from: Path | None = None,
    input_side: int | None = None,
) -> LocaliserReport:
    """Train on the first local image of each product in the catalog for `minutes` (drawing the
    scenes included) or `max_steps`, then write `out` (NAME.localiser.pt) atomically. `start_from`: a
    localiser file whose net goes on training (on new scenes when the seed differs from its own).
    `input_side`: the short side of photos as the localiser sees them, in whole map cells (INPUT_SIDE
    when None)."""
    if not out.name.endswith(SUFFIX):
        raise InvalidParameterError(f"--out must end in {SUFFIX}, got {out}")
    if minutes <= 0:
        raise InvalidParameterError(f"--minutes must be positive, got {minutes}")
    input_side = INPUT_SIDE if input_side is None else input_side
    if not MIN_INPUT_SIDE <= input_side <= MAX_INPUT_SIDE or input_side % CELL:
        raise InvalidParameterError(
            f"--input-side must be a multiple of {CELL} from {MIN_INPUT_SIDE} to {MAX_INPUT_SIDE}, "
            f"got {input_side}"
        )
    # Loaded before the catalog is read: a wrong file stops the command before any work.
    start_net = ProductLocaliser.load(start_from).net if start_from is not None else None
    catalog = read_catalog(catalog_path, skip_invalid=True)
    paths = [path for product in catalog.products if (path := product.first_local_image) is not None]
    if len(paths) < 2:
        raise InvalidParameterError(
            f"{catalog_path} has fewer than two products with local images to train the localiser on"
        )
    torch.manual_seed(seed)
    target = training_device(device)
    resolved = resolve_precision(precision, target)
    started = time.perf_counter()
    trained = train_here(
        cut_outs_of(paths), minutes * 60, seed, target, resolved, max_steps, start_net, input_side
    )
    seconds = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(out, trained.data)
    return LocaliserReport(
        out,
        len(paths),
        len(trained.losses),
        seconds,
        trained.losses[0],
        trained.losses[-1],
        resolved,
        input_side,
    )
