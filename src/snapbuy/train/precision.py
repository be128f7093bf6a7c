"""Training precision: bfloat16 autocast where the hardware computes it natively, float32 elsewhere.

The demo's nets are small, so a step is bound by convolutions and batch norms over many small
images; where the CPU computes bfloat16 (AMX, AVX512-BF16) autocast makes both nets' steps faster, and
in the same minutes both learn more
(docs/experiments/2026-11-30-precision-and-cpu-kernels.md#bfloat16-step-times).
On a CPU without hardware bfloat16 it is emulated and slower, so "auto" keeps float32 there."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import torch

from snapbuy.device import CPUINFO, native_bf16
from snapbuy.errors import InvalidParameterError

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(requested: str, device: torch.device, cpuinfo: Path = CPUINFO) -> str:
    """The precision to train in, "fp32" or "bf16": "auto" picks bf16 only where it is native; an
    explicit choice is kept."""
    if requested not in PRECISIONS:
        raise InvalidParameterError(
            f"unknown training precision {requested!r}; use one of {', '.join(PRECISIONS)}"
        )
    if requested == "auto":
        return "bf16" if native_bf16(device, cpuinfo) else "fp32"
    return requested


def autocast(precision: str, device: torch.device) -> AbstractContextManager[None]:
    """The forward passes' context: bfloat16 autocast for "bf16", nothing for "fp32". Losses are
    computed on float32 copies of the outputs either way."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
