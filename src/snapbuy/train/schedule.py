"""The learning-rate schedule of time-budgeted training: linear warm-up, then cosine decay to zero at
the end of the budget. Progress is elapsed time over the budget, so the schedule fits any machine."""

from __future__ import annotations

import math


def warmup_cosine(progress: float, peak: float, warmup_fraction: float) -> float:
    if progress < warmup_fraction:
        return peak * progress / warmup_fraction
    decay = (progress - warmup_fraction) / (1 - warmup_fraction)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, decay)))
