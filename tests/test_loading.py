from __future__ import annotations

import logging

import pytest

from snapbuy.index.torch_exact import cuda_available
from snapbuy.loading import usable_device


@pytest.mark.skipif(cuda_available(), reason="checks the fallback on a machine without a GPU")
def test_cuda_without_a_gpu_falls_back_to_cpu_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="snapbuy.loading"):
        assert usable_device("cuda") == "cpu"
    assert "no CUDA GPU" in caplog.text and "run on the CPU" in caplog.text


def test_cpu_stays_cpu() -> None:
    assert usable_device("cpu") == "cpu"
