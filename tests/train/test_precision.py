from __future__ import annotations

from pathlib import Path

import pytest
import torch

from snapbuy.device import native_bf16
from snapbuy.errors import InvalidParameterError
from snapbuy.train.precision import autocast, resolve_precision
from tests.fakes import cpuinfo_file as cpuinfo

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("sse2 avx2 fma", "fp32"),
        ("avx2 avx512f avx512bw", "fp32"),  # AVX-512 without BF16: emulated, so float32
        ("avx512f amx_bf16", "bf16"),
        ("avx512_bf16", "bf16"),
    ],
)
def test_auto_picks_bf16_only_where_the_cpu_computes_it(tmp_path: Path, flags: str, expected: str) -> None:
    path = cpuinfo(tmp_path, flags)
    assert native_bf16(CPU, path) is (expected == "bf16")
    assert resolve_precision("auto", CPU, path) == expected


def test_an_explicit_precision_is_kept(tmp_path: Path) -> None:
    path = cpuinfo(tmp_path, "sse2 avx2")
    assert resolve_precision("bf16", CPU, path) == "bf16"  # slower without hardware support, but asked for
    assert resolve_precision("fp32", CPU, cpuinfo(tmp_path, "amx_bf16")) == "fp32"


def test_an_unknown_precision_is_an_error() -> None:
    with pytest.raises(InvalidParameterError, match=r"fp16.*auto, fp32, bf16"):
        resolve_precision("fp16", CPU)


def test_autocast_runs_the_forward_pass_in_the_chosen_precision() -> None:
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(2, 8)
    with autocast("bf16", CPU):
        assert layer(x).dtype == torch.bfloat16
    with autocast("fp32", CPU):
        assert layer(x).dtype == torch.float32
