"""Where training runs: snapbuy.device's policy (the GPU when torch sees one; a GPU asked for but not
there is an error), limited to the CPU and CUDA, the devices training is written for."""

from __future__ import annotations

import torch

from snapbuy.device import resolve_device
from snapbuy.errors import ConfigError

# Leaving --device out is the other way out: the time budget then buys whatever this machine has.
NO_GPU_HINT = "use --device cpu (or leave --device out: the GPU is used when there is one)"


def training_device(requested: str | None) -> torch.device:
    """None picks the GPU when torch sees one. Asking for CUDA without one is an error rather than a
    quiet fall-back: the time budget would then buy a fraction of the steps the caller planned for."""
    device = torch.device(resolve_device(requested, NO_GPU_HINT))
    if device.type not in {"cpu", "cuda"}:
        raise ConfigError(f"training runs on cpu or cuda, not {requested!r}")
    return device
