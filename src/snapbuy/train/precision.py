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

from snapbuy.errors import InvalidParameterError

PRECISIONS = ("auto", "fp32", "bf16")
# /proc/cpuinfo flags of CPUs with bfloat16 arithmetic in hardware (Intel AMX, AVX512-BF16; the
# latter also on AMD Zen 4 and later).
NATIVE_BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; empty where there is no /proc/cpuinfo."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def native_bf16(device: torch.device, cpuinfo: Path = CPUINFO) -> bool:
    """Whether `device` computes bfloat16 in hardware."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return bool(NATIVE_BF16_CPU_FLAGS & cpu_flags(cpuinfo))


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
