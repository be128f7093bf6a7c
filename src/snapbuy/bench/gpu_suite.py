"""The `gpu` suite: batched exact search over the whole catalog, the CPU (faiss flat, all cores) and a
GPU (float16 matrix; top-k by torch, and by faiss's knn_gpu too when a GPU build of faiss is installed)
on the same queries in the same run: queries/s, batch latency, and how often the float16 GPU top-10
equals the float32 CPU top-10."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snapbuy.bench.report import machine, p50_p99
from snapbuy.bench.vectors import synthetic_catalog, synthetic_queries
from snapbuy.device import resolve_device
from snapbuy.index import FlatIndex, VectorIndex
from snapbuy.index.torch_exact import (
    TORCH_TOPK,
    TorchExactIndex,
    faiss_gpu_available,
    faiss_gpu_topk,
)
from snapbuy.results import write_results

K = 10
GPU_TARGET_QPS = 20_000  # the target for 1M x 512 on one H100


@dataclass
class BackendFigures:
    name: str
    device: str
    batch: int
    batches_timed: int
    batch_ms: dict[str, float]  # p50, p99
    queries_per_second: float


def _time_batches(index: VectorIndex, batches: list[np.ndarray]) -> tuple[list[float], np.ndarray]:
    index.search_batch(batches[0], K)  # warm-up: first-call allocations, kernel selection
    times, found = [], []
    for batch in batches:
        started = time.perf_counter()
        _, ids = index.search_batch(batch, K)  # results are copied to the host: the device has finished
        times.append((time.perf_counter() - started) * 1000)
        found.append(ids)
    return times, np.concatenate(found)


def _figures(name: str, device: str, batch: int, times: list[float]) -> BackendFigures:
    return BackendFigures(
        name=name,
        device=device,
        batch=batch,
        batches_timed=len(times),
        batch_ms=p50_p99(times, 3),
        queries_per_second=round(batch / (statistics.median(times) / 1000), 1),  # from the unrounded median
    )


def gpu_benchmark(
    size: int,
    batch: int,
    batches: int,
    out_dir: Path,
    *,
    device: str = "cuda",
    cpu_batches: int = 3,
    seed: int = 0,
) -> tuple[tuple[Path, Path], list[BackendFigures], float]:
    """Returns (result files, [cpu, gpu...] figures, top-10 agreement of the first GPU backend with the
    CPU)."""
    device = resolve_device(
        device, "the gpu suite needs a CUDA GPU; the CPU search path is measured by `snapbuy bench search`"
    )
    catalog = synthetic_catalog(size, seed=seed)
    rng = np.random.default_rng(seed + 1)
    queries = synthetic_queries(catalog, rng.integers(0, size, batch * batches), seed=seed + 2)
    split = [queries[i * batch : (i + 1) * batch] for i in range(batches)]
    cpu_times, cpu_ids = _time_batches(FlatIndex.build(catalog.vectors), split[:cpu_batches])
    results = [_figures("faiss flat", "cpu", batch, cpu_times)]
    topks = [faiss_gpu_topk(), TORCH_TOPK] if faiss_gpu_available() else [TORCH_TOPK]
    matrix = TorchExactIndex.from_vectors(catalog.vectors, device)
    gpu_ids_by_topk = []
    for topk in topks:
        matrix.topk = topk
        gpu_times, gpu_ids = _time_batches(matrix, split)
        results.append(_figures(f"{topk.name} float16", device, batch, gpu_times))
        gpu_ids_by_topk.append(gpu_ids)
    pairs = zip(cpu_ids, gpu_ids_by_topk[0][: len(cpu_ids)], strict=True)  # the first GPU top-k's
    agreement = float(np.mean([len(set(a) & set(b)) / K for a, b in pairs]))
    payload: dict[str, Any] = {
        "suite": "gpu",
        "machine": machine(),
        "settings": {"size": size, "dim": int(catalog.vectors.shape[1]), "batch": batch, "k": K},
        "backends": [asdict(r) for r in results],
        "gpu_vs_cpu_qps": round(results[1].queries_per_second / results[0].queries_per_second, 2),
        "top10_agreement": round(agreement, 4),
    }
    lines = [
        f"# snapbuy bench: gpu (exact search, {size:,} x {catalog.vectors.shape[1]}, batches of {batch})",
        "",
        "| backend | device | batch p50 ms | batch p99 ms | queries/s |",
        "|---|---|---|---|---|",
        *(
            f"| {r.name} | {r.device} | {r.batch_ms['p50']:.2f} | {r.batch_ms['p99']:.2f} "
            f"| {r.queries_per_second:,.0f} |"
            for r in results
        ),
        "",
        f"GPU ({results[1].name}) / CPU queries per second: {payload['gpu_vs_cpu_qps']}x "
        f"(target on one H100: {GPU_TARGET_QPS:,} queries/s). "
        f"Top-10 agreement of float16 with float32: {agreement:.3f}.",
    ]
    return write_results(out_dir, "gpu", payload, "\n".join(lines) + "\n"), results, agreement
