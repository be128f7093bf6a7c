"""The gpu suite's logic, run with torch on the CPU (CI has no GPU), and its refusal without one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snapbuy.bench.gpu_suite import gpu_benchmark
from snapbuy.device import cuda_available
from snapbuy.errors import ConfigError


def test_cpu_and_torch_backends_are_timed_side_by_side(tmp_path: Path) -> None:
    (json_path, md_path), (cpu, torch_backend), agreement = gpu_benchmark(
        3000, batch=16, batches=3, out_dir=tmp_path, device="cpu", cpu_batches=2
    )
    assert cpu.batches_timed == 2 and torch_backend.batches_timed == 3
    assert cpu.queries_per_second > 0 and torch_backend.queries_per_second > 0
    assert agreement == 1.0  # float32 on both sides here: the same top-10
    payload = json.loads(json_path.read_text())
    assert payload["suite"] == "gpu" and payload["gpu_vs_cpu_qps"] > 0
    assert "| faiss flat | cpu |" in md_path.read_text()


@pytest.mark.skipif(cuda_available(), reason="checks the message on a machine without a GPU")
def test_without_a_gpu_the_suite_says_so_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        gpu_benchmark(1000, batch=8, batches=2, out_dir=tmp_path)
    assert not tmp_path.exists() or not list(tmp_path.iterdir())
