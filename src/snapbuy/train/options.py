"""What a training run is asked (TrainOptions) and what it reports (TrainReport)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from snapbuy.errors import InvalidParameterError

# With the proxies, from scratch: flat over 4e-3 to 8e-3, and 5e-3 lies in the middle of that
# (docs/experiments/2026-11-30-training-recipe.md#learning-rate-from-scratch).
FROM_SCRATCH_LEARNING_RATE = 5e-3
# The order of rate CLIP fine-tuning is usually done at.
FINE_TUNING_LEARNING_RATE = 1e-5


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
    # ranks by (docs/experiments/2026-11-30-training-recipe.md#catalog-bank-margin).
    catalog_bank_margin: float = 0.15
    # Views scored against every title; and (catalog_title_bank_weight) catalog images too. Off by
    # default since the proxies: without these two, only the step's own titles go through the text
    # tower, so more steps fit in the time, and they did better
    # (docs/experiments/2026-11-30-training-recipe.md#titles-through-the-text-tower).
    title_bank_weight: float = 0.0
    catalog_title_bank_weight: float = 0.0
    # Share of each step's products whose catalog image also goes through the model; the rest of the
    # batch is views only, scored against the memory bank and the proxies.
    # Views carry most of what there is to learn; re-encoding every view's catalog image each step
    # halves the views per second for little gain.
    catalog_share: float = 0.28
    # Views and catalog images scored against a learned proxy per product (train/proxies.py), which
    # moves faster than the bank and the titles
    # (docs/experiments/2026-11-30-training-recipe.md#product-proxies).
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

    def checked(self, fine_tuning: bool) -> TrainOptions:
        """These options with the learning rate filled in, or a clear error for a bad value."""
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise InvalidParameterError(f"--learning-rate must be positive, got {self.learning_rate}")
        for flag, steps in (
            ("--max-steps", self.max_steps),
            ("--localiser-max-steps", self.localiser_max_steps),
        ):
            if steps is not None and steps < 1:
                raise InvalidParameterError(f"{flag} must be at least 1, got {steps}")
        if self.learning_rate is not None:
            return self
        rate = FINE_TUNING_LEARNING_RATE if fine_tuning else FROM_SCRATCH_LEARNING_RATE
        return replace(self, learning_rate=rate)
