"""The learning-rate schedule of budgeted training: linear warm-up, then cosine decay to zero at the
end of the budget. Progress is elapsed time over the time budget, so the schedule fits any machine; a
training also bounded by steps is as far along as the further of its two budgets, so one that its
step count ends follows the same schedule however fast the machine runs."""

from __future__ import annotations

import math


def warmup_cosine(progress: float, peak: float, warmup_fraction: float) -> float:
    if progress < warmup_fraction:
        return peak * progress / warmup_fraction
    decay = (progress - warmup_fraction) / (1 - warmup_fraction)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, decay)))


def budget_progress(elapsed: float, budget_seconds: float, steps: int, max_steps: int | None) -> float:
    """How far along a training is: the share of its time budget spent, or of `max_steps` taken when
    that is more (no time budget counts as spent). While the clock is within a step of the step
    count, the step count alone says."""
    progress = elapsed / budget_seconds if budget_seconds > 0 else 1.0
    if max_steps is not None and progress <= (steps + 1) / max_steps:
        # The clock counts only once it runs a whole step ahead of the step count: before that, a
        # training its steps end follows its steps alone, so two runs of one command and seed train
        # the same weights however long their first steps took.
        progress = steps / max_steps
    return progress


def within_budget(elapsed: float, budget_seconds: float, steps: int, max_steps: int | None) -> bool:
    """Whether another step fits: time is left and, when `max_steps` is given, fewer steps were taken."""
    return elapsed < budget_seconds and (max_steps is None or steps < max_steps)
