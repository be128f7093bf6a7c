"""Where training runs: a CUDA GPU when there is one, else the CPU."""

from __future__ import annotations

import torch

from snapbuy.errors import ConfigError
from snapbuy.index.torch_exact import cuda_available


def training_device(requested: str | None) -> torch.device:
    """None picks the GPU when torch sees one. Asking for CUDA without one is an error rather than a
    quiet fall-back: the time budget would then buy a fraction of the steps the caller planned for."""
    if requested is None:
        return torch.device("cuda" if cuda_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise ConfigError(f"unknown training device {requested!r}; use cpu or cuda") from exc
    if device.type not in {"cpu", "cuda"}:
        raise ConfigError(f"training runs on cpu or cuda, not {requested!r}")
    if device.type == "cuda" and not cuda_available():
        raise ConfigError(
            f"training device {requested!r} requested but torch sees no CUDA GPU; use --device cpu "
            "(or leave --device out: the GPU is used when there is one)"
        )
    return device
