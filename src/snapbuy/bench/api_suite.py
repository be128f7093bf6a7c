"""The `api` suite: HTTP latency of photo searches under concurrency, against a real `snapbuy serve`
process on loopback, over an index of the demo shop. Every concurrency level runs in the same run and
is reported next to a single client (latency and throughput ratios)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from snapbuy.bench.http_client import post_photo, wait_ready
from snapbuy.bench.report import machine, p50_p99
from snapbuy.bundle import open_current
from snapbuy.errors import SnapbuyError
from snapbuy.results import write_results

SERVER_START_TIMEOUT = 300.0


@dataclass
class LevelFigures:
    concurrency: int
    requests: int
    errors: int
    latency_ms: dict[str, float]  # p50, p99 per request
    requests_per_second: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _level(url: str, photos: list[bytes], concurrency: int, requests: int) -> LevelFigures:
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
        latency_ms=p50_p99(latencies, 1),
        requests_per_second=round(len(latencies) / wall, 2),
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
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as server_log:
        server = subprocess.Popen(  # our own CLI, fixed arguments
            [sys.executable, "-m", "snapbuy", "serve", "--index", str(index), "--port", str(port)],
            stdout=server_log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            if not wait_ready(f"{base}/readyz", SERVER_START_TIMEOUT, alive=lambda: server.poll() is None):
                server_log.seek(0)
                tail = server_log.read().decode(errors="replace")[-2000:]
                raise SnapbuyError(
                    f"the server did not become ready (exit code {server.poll()}, waited at most "
                    f"{SERVER_START_TIMEOUT:.0f} s); its output ends:\n{tail}"
                )
            post_photo(f"{base}/v1/search", photos[0])  # warm-up
            levels = [_level(f"{base}/v1/search", photos, c, requests) for c in concurrency]
        finally:
            server.terminate()
            server.wait(timeout=30)
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
