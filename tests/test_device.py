"""One device policy: a GPU asked for but not there is an error; none asked for picks the GPU if any."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from snapbuy import device
from snapbuy.device import cpu_flags, cpu_name, cpuinfo_value, resolve_device
from snapbuy.errors import ConfigError
from tests.fakes import cpuinfo_file


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


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    assert cpu_flags(cpuinfo_file(tmp_path, "fpu sse2 avx2 avx512_bf16")) == {
        "fpu",
        "sse2",
        "avx2",
        "avx512_bf16",
    }
    assert cpu_flags(tmp_path / "missing") == frozenset()  # not Linux: no flags, so no bfloat16


def test_a_cpuinfo_value_is_the_first_processors(tmp_path: Path) -> None:
    listing = cpuinfo_file(tmp_path, "avx2")
    assert cpuinfo_value("model name", listing) == "Some CPU"
    assert cpuinfo_value("microcode", listing) is None
    assert cpuinfo_value("model name", tmp_path / "missing") is None
    assert cpu_name(listing) == "Some CPU"
    assert cpu_name(tmp_path / "missing") == (platform.processor() or "unknown CPU")
