"""Time-budgeted contrastive training with open_clip's ClipLoss: catalog image <-> title, and catalog
image <-> synthetic shopper-photo view of it, steered by learned proxies per product and per design
(train/proxies.py); and the shop's product localiser (see train/localiser_training.py), written next
to the checkpoint: on a CPU in a process of its own while the model trains
(train/localiser_process.py), on a GPU before it. Either training may also be bounded by steps."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from snapbuy import __version__
from snapbuy.atomic import write_file_atomically
from snapbuy.catalog import read_catalog
from snapbuy.embed.openclip import config_digest, load_model
from snapbuy.embed.spec import ModelSpec, parse_model_spec, trained_model_spec
from snapbuy.errors import InvalidParameterError, SnapbuyError
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, load_image_file
from snapbuy.localiser import localiser_path
from snapbuy.synth.photos import HELD_OUT_FROM_TRAINING, TRAINING_FAMILIES
from snapbuy.synth.views import (
    BACKGROUND_OVERSAMPLE,
    BACKGROUNDS,
    ViewSynthesizer,
    scene_tensors,
    sprite_side,
    sprite_tensor,
)
from snapbuy.train.device import training_device
from snapbuy.train.localiser_process import (
    LocaliserProcess,
    TrainedLocaliser,
    train_here,
    trains_beside_model,
)
from snapbuy.train.localiser_training import localiser_cut_out
from snapbuy.train.precision import autocast, resolve_precision
from snapbuy.train.proxies import ProductProxies, margin_cross_entropy
from snapbuy.train.schedule import budget_progress, warmup_cosine, within_budget

log = logging.getLogger(__name__)

DEMO_ARCH = Path(__file__).resolve().parent.parent / "demo" / "demo-clip.json"
# With the proxies, from scratch: 7-minute runs on the demo shop (one thread each, views around the
# true product box) gave item-group recall@1 0.784 at 2e-3, 0.799 at 3e-3, 0.839 at 4e-3, 0.825 at
# 5e-3, 0.831 at 6e-3 and at 8e-3: flat from 4e-3 on, and 5e-3 lies in the middle of that.
FROM_SCRATCH_LEARNING_RATE = 5e-3
# The order of rate CLIP fine-tuning is usually done at.
FINE_TUNING_LEARNING_RATE = 1e-5
ProgressCallback = Callable[[int, float, float], None]  # step, elapsed seconds, loss


class StepPrinter:
    """A training progress callback that says where training is at most every `every` seconds."""

    def __init__(self, say: Callable[[str], None], every: float) -> None:
        self.say, self.every, self.last = say, every, 0.0

    def __call__(self, step: int, elapsed: float, loss: float) -> None:
        if elapsed - self.last >= self.every:
            self.last = elapsed
            self.say(f"  step {step}, {elapsed:.0f} s, loss {loss:.3f}")


@dataclass(frozen=True)
class TrainOptions:
    minutes: float = 4.0
    # Training also ends after this many steps when they come before the end of `minutes` (None: time
    # alone decides). With a time budget too long to end first, a run takes the same steps anywhere.
    max_steps: int | None = None
    batch_size: int = 200  # views per step
    # None: FROM_SCRATCH_LEARNING_RATE, or FINE_TUNING_LEARNING_RATE when training starts from --init
    # weights (a from-scratch rate would wreck a pretrained CLIP in a few steps).
    learning_rate: float | None = None
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    view_loss_weight: float = 1.0
    text_loss_weight: float = 0.5
    # Each view is also scored against every catalog product (a memory bank of recent catalog
    # embeddings): 1000-way discrimination per step instead of batch-size-way.
    catalog_bank_weight: float = 1.0
    # The same additive cosine margin as the proxies' (below) on that catalog-wide score, the one search
    # ranks by. Paired 1450-step runs with the design proxies and the proxies' margin, true / localiser
    # boxes: seed 0 0.899 / 0.840 without, 0.889 / 0.846 with; seed 1 0.877 / 0.825, 0.890 / 0.836.
    catalog_bank_margin: float = 0.15
    # Views scored against every title; and (catalog_title_bank_weight) catalog images too. Off by
    # default since the proxies: without these two, only the step's own titles go through the text
    # tower, and paired 7-minute runs (one thread each, true product box) took 1635 steps instead of
    # 1397 and reached item-group recall@1 0.858 instead of 0.829.
    title_bank_weight: float = 0.0
    catalog_title_bank_weight: float = 0.0
    # Share of each step's products whose catalog image also goes through the model; the rest of the
    # batch is views only, scored against the memory bank and the proxies.
    # Views carry most of what there is to learn; re-encoding every view's catalog image each step
    # halves the views per second for little gain.
    catalog_share: float = 0.28
    # Views and catalog images scored against a learned proxy per product (train/proxies.py), which
    # moves faster than the bank and the titles. Paired 7-minute runs on the demo shop, one thread
    # each: item-group recall@1 0.727 without, 0.784 with (views around the true product box).
    proxy_weight: float = 2.0
    proxy_learning_rate_factor: float = 10.0
    # And against a proxy per design (item_group_id; a product without one is its own design): the
    # colour variants of a design share it, so the model must also tell designs apart by their shape
    # and details, not by colour alone (most item-group misses were another design in the same colour).
    design_proxy_weight: float = 1.0
    # CosFace's additive margin on both kinds of proxy (train/proxies.py).
    proxy_margin: float = 0.15
    # Time for the product localiser (written next to the checkpoint); 0 = none. On a CPU with two
    # threads or more it trains beside the model, each on half the threads; otherwise before it.
    localiser_minutes: float = 1.5
    localiser_max_steps: int | None = None  # as max_steps, for the localiser
    seed: int = 0
    threads: int | None = None
    device: str | None = None  # None: a CUDA GPU when there is one, else the CPU
    # "auto": bfloat16 autocast where the device computes it natively (train/precision.py), else fp32.
    precision: str = "auto"


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


@dataclass(frozen=True)
class TrainingSet:
    """The catalog as tensors, one row per product with a readable image."""

    images: torch.Tensor  # [N, 3, S, S] catalog images, preprocessed
    sprites: torch.Tensor  # [N, 4, S, S] RGBA product cut-outs
    tokens: torch.Tensor  # [N, L] title tokens
    titles: list[str]
    image_paths: list[Path]  # each row's catalog image: the localiser's process cuts its products out
    cut_outs: list[Image.Image]  # the localiser's cut-outs, when it trains in this process (else empty)
    designs: torch.Tensor  # [N] long: each row's design (item_group_id) as 0..D-1


def _prepare(
    catalog_path: Path, transform: Any, tokenizer: Any, image_size: int, with_cut_outs: bool
) -> TrainingSet:
    catalog = read_catalog(catalog_path, skip_invalid=True)
    images, sprites, titles, paths, cut_outs, design_names = [], [], [], [], [], []
    for product in catalog.products:
        path = next((ref.path for ref in product.images if ref.path is not None), None)
        if path is None:
            continue
        try:
            image = load_image_file(path, max_bytes=LOCAL_FILE_MAX_BYTES, max_pixels=LOCAL_FILE_MAX_PIXELS)
        except SnapbuyError as exc:
            log.warning("training skips %s: %s", product.sku, exc.message)
            continue
        images.append(transform(image))
        sprites.append(sprite_tensor(image, sprite_side(image_size)))
        titles.append(product.title)
        design_names.append(product.item_group_id or f"sku:{product.sku}")
        paths.append(path)
        if with_cut_outs:
            cut_outs.append(localiser_cut_out(image))
    if len(images) < 2:
        raise InvalidParameterError(
            f"{catalog_path} has fewer than two products with readable images to train on"
        )
    return TrainingSet(
        torch.stack(images),
        torch.stack(sprites),
        tokenizer(titles),
        titles,
        paths,
        cut_outs,
        design_indices(design_names),
    )


def design_indices(names: list[str]) -> torch.Tensor:
    """Each row's design as an index 0..D-1, numbered in order of first appearance."""
    numbers: dict[str, int] = {}
    return torch.tensor([numbers.setdefault(name, len(numbers)) for name in names], dtype=torch.long)


def _design_means(bank: torch.Tensor, designs: torch.Tensor) -> torch.Tensor:
    """[D, dim] the mean catalog embedding of each design's products."""
    sums = torch.zeros(int(designs.max()) + 1, bank.shape[1], device=bank.device).index_add_(0, designs, bank)
    return F.normalize(sums, dim=-1)


def _normaliser(
    mean: list[float], std: list[float], device: torch.device
) -> Callable[[torch.Tensor], torch.Tensor]:
    """[0, 1] pixels -> the model's normalised input."""
    m = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device).view(1, 3, 1, 1)
    return lambda x: (x - m) / s


def _catalog_bank(model: Any, catalog_images: torch.Tensor, batch: int) -> torch.Tensor:
    """Initial embeddings of every catalog image, refreshed batch by batch during training."""
    model.eval()
    with torch.no_grad():
        parts = [
            model.encode_image(
                catalog_images[i : i + batch].contiguous(memory_format=torch.channels_last), normalize=True
            )
            for i in range(0, len(catalog_images), batch)
        ]
    return torch.cat(parts)


def _preprocess_cfg(preprocessing: dict[str, Any]) -> dict[str, Any]:
    """open_clip's preprocess_cfg keys (image size comes from the model config itself)."""
    return {k: v for k, v in preprocessing.items() if k != "image_size"}


def _localiser_record(trained: TrainedLocaliser, file_name: str, beside: bool) -> dict[str, Any]:
    """What the checkpoint records about the localiser trained with it."""
    info = {
        "file": file_name,
        "sha256": hashlib.sha256(trained.data).hexdigest(),
        "steps": len(trained.losses),
        "first_loss": trained.losses[0],
        "last_loss": float(np.mean(trained.losses[-10:])),
        "families": sorted(TRAINING_FAMILIES),
        "beside_the_model": beside,
        "threads": trained.threads,
        "precision": trained.precision,
    }
    log.info(
        "trained the product localiser: %d steps, loss %.3f -> %.3f",
        len(trained.losses),
        trained.losses[0],
        info["last_loss"],
    )
    return info


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
    options = options or TrainOptions()
    if options.learning_rate is not None and not options.learning_rate > 0:
        raise InvalidParameterError(f"--learning-rate must be positive, got {options.learning_rate}")
    if options.learning_rate is None:
        rate = FINE_TUNING_LEARNING_RATE if init is not None else FROM_SCRATCH_LEARNING_RATE
        options = replace(options, learning_rate=rate)
    if out.suffix not in {".pt", ".pth"}:
        raise InvalidParameterError(f"--out must end in .pt, got {out}")
    for flag, steps in (
        ("--max-steps", options.max_steps),
        ("--localiser-max-steps", options.localiser_max_steps),
    ):
        if steps is not None and steps < 1:
            raise InvalidParameterError(f"{flag} must be at least 1, got {steps}")
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
    data = _prepare(
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
    localiser_file = localiser_path(out)
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
        losses, seconds = _train_model(
            model, data, loaded.preprocessing, options, device, precision, after_step, init is not None
        )
        if job is not None:
            trained_localiser = job.result()
    model.to("cpu").eval()  # a checkpoint that loads anywhere
    localiser_info = (
        None
        if trained_localiser is None
        else _localiser_record(trained_localiser, localiser_file.name, beside)
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
        "loss": "open_clip ClipLoss: catalog image <-> title, catalog image <-> shopper-photo view"
        + ("; both image kinds <-> learned product proxies" if options.proxy_weight else "")
        + ("; both image kinds <-> learned design proxies" if options.design_proxy_weight else "")
        + (f" (additive cosine margin {options.proxy_margin:g})" if options.proxy_margin else ""),
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
    config_path = out.with_suffix(".json")
    write_file_atomically(
        config_path,
        lambda fh: fh.write(
            json.dumps(
                {"model_cfg": loaded.model_cfg, "preprocess_cfg": _preprocess_cfg(loaded.preprocessing)},
                indent=2,
            ).encode()
        ),
    )
    if trained_localiser is not None:
        write_file_atomically(localiser_file, lambda fh: fh.write(trained_localiser.data))
    else:
        localiser_file.unlink(missing_ok=True)  # an older run's localiser belongs to another model
    # The checkpoint, written last, names its localiser by digest: a run stopped between the two
    # writes leaves a pair that localiser_for refuses instead of one that silently mismatches.
    write_file_atomically(
        out, lambda fh: torch.save({"state_dict": model.state_dict(), "snapbuy_training": metadata}, fh)
    )
    return TrainReport(
        out,
        config_path,
        trained_model_spec(out),
        len(losses),
        seconds,
        losses[0],
        metadata["last_loss"],
        len(data.titles),
        losses,
        localiser_file if trained_localiser is not None else None,
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


def _train_model(
    model: Any,
    data: TrainingSet,
    preprocessing: dict[str, Any],
    options: TrainOptions,
    device: torch.device,
    precision: str,
    progress: ProgressCallback | None,
    fine_tuning: bool,
) -> tuple[list[float], float]:
    """Train `model` (already on `device`) for options.minutes or options.max_steps steps, whichever
    ends first, its image forward passes in `precision`: the loss of every step, and the seconds the
    steps took. When `fine_tuning`, the product proxies start at the catalog images' embeddings rather
    than at random."""
    from open_clip.loss import ClipLoss

    size = int(preprocessing["image_size"][0])
    catalog_images, tokens = data.images.to(device), data.tokens.to(device)
    backgrounds = scene_tensors(BACKGROUNDS, size * BACKGROUND_OVERSAMPLE, random.Random(options.seed))
    synthesize = ViewSynthesizer(data.sprites.to(device), backgrounds.to(device), options.seed, size)
    normalise = _normaliser(preprocessing["mean"], preprocessing["std"], device)
    loss_fn = ClipLoss()
    n = len(data.titles)
    assert options.learning_rate is not None  # train() fills it in
    learning_rate = options.learning_rate
    batch = min(options.batch_size, n)
    n_catalog = max(2, round(batch * options.catalog_share))
    generator = torch.Generator().manual_seed(options.seed)
    budget = options.minutes * 60
    started = time.perf_counter()
    losses: list[float] = []
    order = torch.randperm(n, generator=generator)
    cursor = 0
    # channels-last convolutions run about 1.4x faster on CPU for this kind of tower.
    model = model.to(memory_format=torch.channels_last)
    bank = _catalog_bank(model, catalog_images, batch)
    proxies = ProductProxies(n, bank.shape[1], torch.Generator().manual_seed(options.seed)).to(device)
    designs = data.designs.to(device)
    design_proxies = ProductProxies(
        int(designs.max()) + 1, bank.shape[1], torch.Generator().manual_seed(options.seed + 1)
    ).to(device)
    if fine_tuning:
        proxies.start_at(bank)
        design_proxies.start_at(_design_means(bank, designs))
    optimizer = _optimizer(
        model,
        [(proxies, options.proxy_weight), (design_proxies, options.design_proxy_weight)],
        learning_rate,
        options,
    )
    model.train()
    while within_budget(time.perf_counter() - started, budget, len(losses), options.max_steps):
        if cursor + batch > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        idx = order[cursor : cursor + batch].to(device)
        cursor += batch
        view = normalise(synthesize(idx))
        progress_share = budget_progress(
            time.perf_counter() - started, budget, len(losses), options.max_steps
        )
        lr = warmup_cosine(progress_share, learning_rate, options.warmup_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_factor"]
        # One forward pass for both: BatchNorm then normalises catalog shots and views with the same
        # statistics in training as at inference; separate passes let the model key on batch makeup.
        shown = idx[:n_catalog]
        both = torch.cat([catalog_images[shown], view]).contiguous(memory_format=torch.channels_last)
        with autocast(precision, device):
            features = model.encode_image(both)
        catalog_features, view_features = torch.split(
            F.normalize(features.float(), dim=-1), [len(shown), len(idx)]
        )
        # Every title only when a loss scores against all of them; else just this step's.
        all_titles = (
            model.encode_text(tokens, normalize=True)
            if options.title_bank_weight or options.catalog_title_bank_weight
            else None
        )
        shown_titles = (
            model.encode_text(tokens[shown], normalize=True) if all_titles is None else all_titles[shown]
        )
        scale = model.logit_scale.exp()
        loss = options.view_loss_weight * loss_fn(catalog_features, view_features[:n_catalog], scale)
        loss = loss + options.text_loss_weight * loss_fn(catalog_features, shown_titles, scale)
        if all_titles is not None and options.catalog_title_bank_weight:
            loss = loss + options.catalog_title_bank_weight * F.cross_entropy(
                scale * catalog_features @ all_titles.T, shown
            )
        if options.catalog_bank_weight:
            # Stale rows for the rest of the catalog, fresh (differentiable) rows for this batch.
            keys = bank.index_copy(0, shown, catalog_features)
            loss = loss + options.catalog_bank_weight * margin_cross_entropy(
                view_features @ keys.T, idx, scale, options.catalog_bank_margin
            )
            bank.index_copy_(0, shown, catalog_features.detach())
        if all_titles is not None and options.title_bank_weight:
            loss = loss + options.title_bank_weight * F.cross_entropy(
                scale * view_features @ all_titles.T, idx
            )
        margin = options.proxy_margin
        if options.proxy_weight:
            loss = loss + options.proxy_weight * (
                proxies.loss(view_features, idx, scale, margin)
                + proxies.loss(catalog_features, shown, scale, margin)
            )
        if options.design_proxy_weight:
            loss = loss + options.design_proxy_weight * (
                design_proxies.loss(view_features, designs[idx], scale, margin)
                + design_proxies.loss(catalog_features, designs[shown], scale, margin)
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))  # as in CLIP: keep the temperature sane
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(len(losses), time.perf_counter() - started, losses[-1])
    if not losses:
        raise InvalidParameterError("--minutes is too short for a single training step")
    return losses, time.perf_counter() - started


def _optimizer(
    model: Any,
    proxies: list[tuple[ProductProxies, float]],
    learning_rate: float,
    options: TrainOptions,
) -> torch.optim.Optimizer:
    """AdamW over the model and the proxies whose loss weight is not 0, those at their own
    learning-rate factor (each group's `lr_factor` scales the schedule's rate)."""
    groups: list[dict[str, Any]] = [{"params": list(model.parameters()), "lr_factor": 1.0}]
    used = [p for p, weight in proxies if weight]
    if used:
        # The loss normalises them, so weight decay would only shrink them for nothing.
        groups.append(
            {
                "params": [parameter for p in used for parameter in p.parameters()],
                "lr_factor": options.proxy_learning_rate_factor,
                "weight_decay": 0.0,
            }
        )
    # Fused AdamW updates all parameters in one kernel: a model step 3 % faster on one CPU thread.
    return torch.optim.AdamW(groups, lr=learning_rate, weight_decay=options.weight_decay, fused=True)
