"""`snapbuy train`: contrastive training of an open_clip model on a shop's catalog (train/model_training.py,
the loss terms in train/losses.py), steered by learned proxies per product and per design; and the
shop's product localiser (train/localiser_training.py), written next to the checkpoint
(train/checkpoint.py): on a CPU in a process of its own while the model trains
(train/localiser_process.py), on a GPU before it. Either training may also be bounded by steps."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snapbuy import __version__
from snapbuy.catalog import read_catalog
from snapbuy.embed.openclip import config_digest, load_model
from snapbuy.embed.spec import ModelSpec, parse_model_spec, trained_model_spec
from snapbuy.errors import InvalidParameterError
from snapbuy.localiser import localiser_path
from snapbuy.synth.photos import HELD_OUT_FROM_TRAINING, TRAINING_FAMILIES
from snapbuy.train.checkpoint import ModelFiles, localiser_record, write_trained_model
from snapbuy.train.device import training_device
from snapbuy.train.localiser_process import (
    LocaliserProcess,
    TrainedLocaliser,
    train_here,
    trains_beside_model,
)
from snapbuy.train.model_training import ProgressCallback, train_model
from snapbuy.train.options import FINE_TUNING_LEARNING_RATE, FROM_SCRATCH_LEARNING_RATE, TrainOptions
from snapbuy.train.precision import resolve_precision
from snapbuy.train.training_set import prepare_training_set

log = logging.getLogger(__name__)

DEMO_ARCH = Path(__file__).resolve().parent.parent / "demo" / "demo-clip.json"

__all__ = [
    "DEMO_ARCH",
    "FINE_TUNING_LEARNING_RATE",
    "FROM_SCRATCH_LEARNING_RATE",
    "StepPrinter",
    "TrainOptions",
    "TrainReport",
    "train",
]


class StepPrinter:
    """A training progress callback that says where training is at most every `every` seconds."""

    def __init__(self, say: Callable[[str], None], every: float) -> None:
        self.say, self.every, self.last = say, every, 0.0

    def __call__(self, step: int, elapsed: float, loss: float) -> None:
        if elapsed - self.last >= self.every:
            self.last = elapsed
            self.say(f"  step {step}, {elapsed:.0f} s, loss {loss:.3f}")


@dataclass
class TrainReport:
    checkpoint: Path
    config: Path
    spec: str
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    products: int
    losses: list[float] = field(default_factory=list)
    localiser: Path | None = None


def _init_spec(init: str | None, arch: str | None) -> ModelSpec:
    if init is not None:
        spec = parse_model_spec(init)
        if spec.weights is None:
            raise InvalidParameterError(
                "--init needs weights (ARCH:WEIGHTS); for training from scratch use --arch"
            )
        return spec
    return parse_model_spec(f"{arch or DEMO_ARCH}:random")


def train(
    catalog_path: Path,
    out: Path,
    *,
    init: str | None = None,
    arch: str | None = None,
    models_dir: Path = Path("models"),
    allow_download: bool = False,
    options: TrainOptions | None = None,
    catalog_sha256: str | None = None,
    progress: ProgressCallback | None = None,
) -> TrainReport:
    """Train, then write `out` (checkpoint) and `out` with .json (its open_clip config) so that
    the model spec `<out>.json:<out>` loads it. On a CPU the localiser trains in a process started
    with multiprocessing's spawn, so a script that calls this needs the usual
    `if __name__ == "__main__":` guard (the snapbuy CLI has it)."""
    options = (options or TrainOptions()).checked(fine_tuning=init is not None)
    if out.suffix not in {".pt", ".pth"}:
        raise InvalidParameterError(f"--out must end in .pt, got {out}")
    torch.manual_seed(options.seed)
    if options.threads:
        torch.set_num_threads(options.threads)
    device = training_device(options.device)
    precision = resolve_precision(options.precision, device)
    spec = _init_spec(init, arch)
    loaded = load_model(spec, models_dir=models_dir, allow_download=allow_download)
    threads = torch.get_num_threads()
    beside = bool(options.localiser_minutes) and trains_beside_model(device, threads)
    prep_started = time.perf_counter()
    data = prepare_training_set(
        catalog_path,
        loaded.transform,
        loaded.tokenizer,
        int(loaded.preprocessing["image_size"][0]),
        with_cut_outs=bool(options.localiser_minutes) and not beside,
    )
    log.info(
        "prepared %d products in %.1f s; training on %s in %s",
        len(data.titles),
        time.perf_counter() - prep_started,
        device,
        precision,
    )
    trained_localiser: TrainedLocaliser | None = None
    with ExitStack() as stack:
        job: LocaliserProcess | None = None
        if beside:
            job = stack.enter_context(
                LocaliserProcess(
                    data.image_paths,
                    options.localiser_minutes * 60,
                    options.seed,
                    threads // 2,
                    precision,
                    max_steps=options.localiser_max_steps,
                )
            )
            log.info(
                "training the product localiser beside the model, %d + %d threads",
                threads // 2,
                threads - threads // 2,
            )
            stack.callback(torch.set_num_threads, threads)  # the caller goes on with all of them
            torch.set_num_threads(threads - threads // 2)
        elif options.localiser_minutes:
            trained_localiser = train_here(
                data.cut_outs,
                options.localiser_minutes * 60,
                options.seed,
                device,
                precision,
                max_steps=options.localiser_max_steps,
            )
        model = loaded.model.to(device)
        after_step = progress if job is None else _taking_threads_back(job, threads, progress)
        losses, seconds = train_model(
            model, data, loaded.preprocessing, options, device, precision, after_step, init is not None
        )
        if job is not None:
            trained_localiser = job.result()
    model.to("cpu").eval()  # a checkpoint that loads anywhere
    files = ModelFiles(out, out.with_suffix(".json"), localiser_path(out))
    localiser_info = (
        None
        if trained_localiser is None
        else localiser_record(trained_localiser, files.localiser.name, beside, sorted(TRAINING_FAMILIES))
    )
    metadata: dict[str, Any] = {
        "snapbuy_version": __version__,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "catalog": str(catalog_path),
        "catalog_sha256": catalog_sha256 or read_catalog(catalog_path, skip_invalid=True).sha256,
        "catalog_products": len(data.titles),
        "init": init or f"from scratch ({spec.arch}, random init seed {options.seed})",
        "init_weights": loaded.weights,
        # What the model loader checks NAME.json against: a stale or foreign config is an error.
        "model_config_sha256": config_digest(loaded.model_cfg),
        "preprocessing": loaded.preprocessing,
        "loss": _loss_description(options),
        "training_view_families": sorted(TRAINING_FAMILIES),
        "held_out_families": sorted(HELD_OUT_FROM_TRAINING),
        "steps": len(losses),
        "seconds": round(seconds, 1),
        "device": str(device),
        "precision": precision,
        "threads": threads if device.type == "cpu" else None,  # less the localiser's while it trained
        "batch_size": min(options.batch_size, len(data.titles)),
        "first_loss": losses[0],
        "last_loss": float(np.mean(losses[-10:])),
        "options": {k: v for k, v in options.__dict__.items()},
        "localiser": localiser_info,
    }
    write_trained_model(files, model, loaded.model_cfg, loaded.preprocessing, metadata, trained_localiser)
    return TrainReport(
        out,
        files.config,
        trained_model_spec(out),
        len(losses),
        seconds,
        losses[0],
        metadata["last_loss"],
        len(data.titles),
        losses,
        files.localiser if trained_localiser is not None else None,
    )


def _loss_description(options: TrainOptions) -> str:
    return (
        "open_clip ClipLoss: catalog image <-> title, catalog image <-> shopper-photo view"
        + ("; both image kinds <-> learned product proxies" if options.proxy_weight else "")
        + ("; both image kinds <-> learned design proxies" if options.design_proxy_weight else "")
        + (f" (additive cosine margin {options.proxy_margin:g})" if options.proxy_margin else "")
    )


def _taking_threads_back(
    job: LocaliserProcess, threads: int, progress: ProgressCallback | None
) -> ProgressCallback:
    """A callback for after each model step: once the localiser's process is done, the model takes all
    `threads` back (a localiser given less time than the model would otherwise leave its share idle)."""
    taken_back = False

    def after_step(step: int, elapsed: float, loss: float) -> None:
        nonlocal taken_back
        if not taken_back and job.finished():
            torch.set_num_threads(threads)
            taken_back = True
        if progress is not None:
            progress(step, elapsed, loss)

    return after_step
