"""Where torch work runs: one policy for the model, the GPU similarity search, training and benchmarks.

- A named device ("cpu", "cuda", "cuda:1", ...) is used as named. Asking for CUDA when torch sees no
  CUDA GPU is an error (ConfigError: exit code 2 on the command line, HTTP 500 and /readyz's load
  error in the API), never a quiet fall-back to the CPU: a server sized for a GPU, or a training
  budget planned for one, would then get a fraction of the speed it was set up for, unnoticed.
- None ("auto", training's default) picks the GPU when torch sees one, else the CPU.

torch is imported on first use only: the CPU paths that never ask for a device don't pay for it."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING

from snapbuy.errors import ConfigError

if TYPE_CHECKING:
    import torch

# What to do instead, as the command line says it; callers with their own advice pass theirs.
DEFAULT_HINT = "use --device cpu (or SNAPBUY_DEVICE=cpu)"
# /proc/cpuinfo flags of CPUs with bfloat16 arithmetic in hardware (Intel AMX, AVX512-BF16; the
# latter also on AMD Zen 4 and later).
NATIVE_BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(requested: str | None, hint: str = DEFAULT_HINT) -> str:
    """The torch device name to run on (normalised: "cuda:1", "cpu"), by the policy above; `hint`
    ends the message of the error for a CUDA GPU that is not there."""
    if requested is None:
        return "cuda" if cuda_available() else "cpu"
    import torch

    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {requested!r}; use cpu or cuda") from exc
    if device.type == "cuda" and not cuda_available():
        raise ConfigError(
            f"device {requested!r} requested but torch sees no CUDA GPU "
            f"(torch.cuda.is_available() is False); {hint}"
        )
    return str(device)


def cpuinfo_value(key: str, cpuinfo: Path = CPUINFO) -> str | None:
    """The first value of `key` ("flags", "model name") in Linux's CPU listing; None where the
    listing or the key is missing."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def cpu_name(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name as Linux lists it, else what the platform says, else "unknown CPU"."""
    return cpuinfo_value("model name", cpuinfo) or platform.processor() or "unknown CPU"


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; empty where there is no /proc/cpuinfo."""
    return frozenset((cpuinfo_value("flags", cpuinfo) or "").split())


def native_bf16(device: torch.device, cpuinfo: Path = CPUINFO) -> bool:
    """Whether `device` computes bfloat16 in hardware (elsewhere torch emulates it, several times
    slower than float32)."""
    if device.type == "cuda":
        import torch

        return bool(torch.cuda.is_bf16_supported())
    return bool(NATIVE_BF16_CPU_FLAGS & cpu_flags(cpuinfo))
