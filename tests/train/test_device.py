"""Where training runs: the GPU when torch sees one, the CPU otherwise, and a clear error for a GPU
that is asked for but not there."""

from __future__ import annotations

import pytest
import torch

from snapbuy import device as device_module
from snapbuy.errors import ConfigError
from snapbuy.train.device import training_device


def test_default_is_the_gpu_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "cuda_available", lambda: True)
    assert training_device(None) == torch.device("cuda")
    monkeypatch.setattr(device_module, "cuda_available", lambda: False)
    assert training_device(None) == torch.device("cpu")


def test_explicit_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "cuda_available", lambda: True)
    assert training_device("cuda:1") == torch.device("cuda", 1)
    assert training_device("cpu") == torch.device("cpu")


def test_cuda_without_a_gpu_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "cuda_available", lambda: False)
    with pytest.raises(ConfigError, match=r"no CUDA GPU.*--device cpu"):
        training_device("cuda")


@pytest.mark.parametrize("name", ["meta", "gpu", ""])
def test_other_devices_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="cpu or cuda"):
        training_device(name)
