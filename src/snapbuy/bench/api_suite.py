"""The `api` suite: HTTP latency of photo searches under concurrency, against a real `snapbuy serve`
process on loopback, over an index of the demo shop. Every concurrency level runs in the same run and
is reported next to a single client (latency and throughput ratios)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snapbuy.bench.http_client import post_photo
from snapbuy.bench.report import machine
from snapbuy.bench.serve_process import running_server
from snapbuy.bundle import open_current
from snapbuy.results import write_results


@dataclass
class LevelFigures:
    concurrency: int
    requests: int
    errors: int
    latency_ms: dict[str, float]  # p50, p95, p99 per request
    requests_per_second: float


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": math.nan, "p95": math.nan, "p99": math.nan}
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in (50, 95, 99)}


def time_level(url: str, photos: list[bytes], concurrency: int, requests: int) -> LevelFigures:
    """`requests` photo uploads to `url` from `concurrency` clients at once."""

    def one(i: int) -> tuple[int, float]:
        started = time.perf_counter()
        status = post_photo(url, photos[i % len(photos)])
        return status, (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    latencies = [ms for status, ms in outcomes if status == 200]
    return LevelFigures(
        concurrency=concurrency,
        requests=requests,
        errors=sum(status != 200 for status, _ in outcomes),
        latency_ms=_percentiles(latencies),
        requests_per_second=round(len(latencies) / wall, 2),
    )


def serve_and_time(
    index: Path,
    photos: list[bytes],
    env: dict[str, str] | None,
    concurrency: Sequence[int],
    requests: int,
    *,
    query: str = "",
    warm_uploads: int = 1,
    rounds: int = 1,
) -> list[LevelFigures]:
    """Start `snapbuy serve --index INDEX` on a free loopback port, send `warm_uploads` photos, time
    at least `requests` uploads (two per client) to POST /v1/search`query` at each concurrency
    level, and stop the server. With several `rounds`, the levels are timed in turn in each round
    (so that the machine's drift touches every level alike), and each figure is the median over the
    rounds."""
    with running_server(index, env) as (base, _):
        url = f"{base}/v1/search{query}"
        for photo in photos[:warm_uploads]:
            post_photo(url, photo)
        timed = [
            [time_level(url, photos, c, max(requests, 2 * c)) for c in concurrency] for _ in range(rounds)
        ]
    return [_median_level([each[i] for each in timed]) for i in range(len(concurrency))]


def _median_level(rounds: list[LevelFigures]) -> LevelFigures:
    """One level's figures over several rounds: requests and errors summed, rates and latency
    percentiles their medians."""
    return LevelFigures(
        concurrency=rounds[0].concurrency,
        requests=sum(r.requests for r in rounds),
        errors=sum(r.errors for r in rounds),
        latency_ms={k: statistics.median(r.latency_ms[k] for r in rounds) for k in rounds[0].latency_ms},
        requests_per_second=statistics.median(r.requests_per_second for r in rounds),
    )


def api_benchmark(
    index: Path,
    photos: list[bytes],
    out_dir: Path,
    *,
    concurrency: tuple[int, ...] = (1, 4, 8),
    requests: int = 40,
    env: dict[str, str] | None = None,
) -> tuple[tuple[Path, Path], list[LevelFigures]]:
    """Start `snapbuy serve --index INDEX` on a free loopback port, time `requests` uploads of the
    given photos at each concurrency level, and stop the server."""
    open_current(index)  # a missing or broken index fails here, clearly, before a server starts
    levels = serve_and_time(index, photos, env, concurrency, requests)
    single = levels[0]
    payload: dict[str, Any] = {
        "suite": "api",
        "machine": machine(),
        "settings": {"index": str(index), "requests_per_level": requests, "photos": len(photos)},
        "levels": [asdict(level) for level in levels],
    }
    lines = [
        f"# snapbuy bench: api (POST /v1/search, {requests} photo uploads per level, server on loopback)",
        "",
        "| concurrency | p50 ms | p99 ms | requests/s | errors | p50 vs 1 client | throughput vs 1 client |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {lv.concurrency} | {lv.latency_ms['p50']:.0f} | {lv.latency_ms['p99']:.0f} "
            f"| {lv.requests_per_second:.2f} | {lv.errors} "
            f"| {lv.latency_ms['p50'] / single.latency_ms['p50']:.2f}x "
            f"| {lv.requests_per_second / max(single.requests_per_second, 1e-9):.2f}x |"
            for lv in levels
        ),
    ]
    return write_results(out_dir, "api", payload, "\n".join(lines) + "\n"), levels
