"""One device policy: a GPU asked for but not there is an error; none asked for picks the GPU if any."""

from __future__ import annotations

import pytest

from snapbuy import device
from snapbuy.device import resolve_device
from snapbuy.errors import ConfigError


def test_none_picks_the_gpu_when_torch_sees_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "cuda_available", lambda: True)
    assert resolve_device(None) == "cuda"
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    assert resolve_device(None) == "cpu"


def test_named_devices_are_used_as_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "cuda_available", lambda: True)
    assert resolve_device("cuda:1") == "cuda:1"
    assert resolve_device("cpu") == "cpu"


def test_cuda_without_a_gpu_is_a_config_error_with_the_callers_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    with pytest.raises(ConfigError, match=r"'cuda' requested but torch sees no CUDA GPU.*--device cpu"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match=r"no CUDA GPU.*; try elsewhere$"):
        resolve_device("cuda:0", hint="try elsewhere")
    assert resolve_device("cpu") == "cpu"


def test_an_unknown_device_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown device 'gpu'; use cpu or cuda"):
        resolve_device("gpu")
