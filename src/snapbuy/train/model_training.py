"""The model's training loop: each step draws fresh shopper-photo views of a batch of products, embeds
them with a share of their catalog images in one forward pass, and takes an AdamW step on the
ContrastiveLoss, until the time budget or the step count ends."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from snapbuy.errors import InvalidParameterError
from snapbuy.synth.views import BACKGROUND_OVERSAMPLE, BACKGROUNDS, ViewSynthesizer, scene_tensors
from snapbuy.train.losses import ContrastiveLoss, StepFeatures, design_means
from snapbuy.train.options import TrainOptions
from snapbuy.train.precision import autocast
from snapbuy.train.proxies import ProductProxies
from snapbuy.train.schedule import budget_progress, warmup_cosine, within_budget
from snapbuy.train.training_set import TrainingSet

ProgressCallback = Callable[[int, float, float], None]  # step, elapsed seconds, loss


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


def _objective(
    model: Any,
    data: TrainingSet,
    catalog_images: torch.Tensor,
    options: TrainOptions,
    device: torch.device,
    batch: int,
    fine_tuning: bool,
) -> ContrastiveLoss:
    """The loss with its memory bank and proxies; when fine-tuning, the proxies start at the catalog
    images' embeddings rather than at random."""
    bank = _catalog_bank(model, catalog_images, batch)
    proxies = ProductProxies(len(data.titles), bank.shape[1], torch.Generator().manual_seed(options.seed))
    designs = data.designs.to(device)
    design_proxies = ProductProxies(
        int(designs.max()) + 1, bank.shape[1], torch.Generator().manual_seed(options.seed + 1)
    )
    proxies, design_proxies = proxies.to(device), design_proxies.to(device)
    if fine_tuning:
        proxies.start_at(bank)
        design_proxies.start_at(design_means(bank, designs))
    return ContrastiveLoss(options, bank, proxies, design_proxies, designs)


def train_model(
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
    steps took."""
    size = int(preprocessing["image_size"][0])
    catalog_images, tokens = data.images.to(device), data.tokens.to(device)
    backgrounds = scene_tensors(BACKGROUNDS, size * BACKGROUND_OVERSAMPLE, random.Random(options.seed))
    synthesize = ViewSynthesizer(data.sprites.to(device), backgrounds.to(device), options.seed, size)
    normalise = _normaliser(preprocessing["mean"], preprocessing["std"], device)
    n = len(data.titles)
    assert options.learning_rate is not None  # TrainOptions.checked fills it in
    learning_rate = options.learning_rate
    batch = min(options.batch_size, n)
    n_catalog = max(2, round(batch * options.catalog_share))
    generator = torch.Generator().manual_seed(options.seed)
    budget = options.minutes * 60
    started = time.perf_counter()
    losses: list[float] = []
    order = torch.randperm(n, generator=generator)
    cursor = 0
    # Channels-last convolutions run faster on a CPU for this kind of tower
    # (docs/experiments/2026-11-30-precision-and-cpu-kernels.md#channels-last).
    model = model.to(memory_format=torch.channels_last)
    objective = _objective(model, data, catalog_images, options, device, batch, fine_tuning)
    optimizer = _optimizer(
        model,
        [(objective.proxies, options.proxy_weight), (objective.design_proxies, options.design_proxy_weight)],
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
        all_titles = model.encode_text(tokens, normalize=True) if objective.needs_all_titles else None
        shown_titles = (
            model.encode_text(tokens[shown], normalize=True) if all_titles is None else all_titles[shown]
        )
        step = StepFeatures(
            catalog_features, view_features, shown, idx, shown_titles, all_titles, model.logit_scale.exp()
        )
        loss = objective(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward untyped
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
    # Fused AdamW updates all parameters in one kernel, a little faster
    # (docs/experiments/2026-11-30-precision-and-cpu-kernels.md#fused-adamw).
    return torch.optim.AdamW(groups, lr=learning_rate, weight_decay=options.weight_decay, fused=True)
