"""The `query` suite: what one shopper photo costs with the product's architecture, end to end over
HTTP against a real `snapbuy serve`, set against the bare model forward measured in the same run.

First the bare image-tower forward (batch 1, and the rate at batch 16) under each backend. Then, for
each backend asked for, a server with the product localiser answers photo uploads at several
concurrency levels; its p50 at one client is reported as a multiple of torch's float32 batch-1
forward, and the throughput at each level as a multiple of one client's."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from snapbuy.bench.api_suite import LevelFigures
from snapbuy.bench.embed_suite import forward_seconds
from snapbuy.bench.report import machine
from snapbuy.embed.backends import TORCH
from snapbuy.embed.base import input_side
from snapbuy.embed.openclip import load_embedder
from snapbuy.results import write_results


@dataclass
class ForwardFigures:
    backend: str
    batch1_ms: float  # median of single-image forwards
    batch16_images_per_s: float


@dataclass
class ServerFigures:
    backend: str
    levels: list[LevelFigures]


def bare_forwards(
    spec: str, models_dir: Path, graph_cache: Path, backends: Sequence[str], repeats: int
) -> list[ForwardFigures]:
    """The image tower alone (prepared pixels in, unit vectors out) under each backend."""
    figures = []
    for backend in backends:
        embedder = load_embedder(spec, models_dir=models_dir, backend=backend, graph_cache=graph_cache)
        side = input_side(embedder.identity.preprocessing) or 224
        singles = forward_seconds(embedder, side, 1, repeats)
        batches = forward_seconds(embedder, side, 16, max(2, repeats // 5))
        figures.append(
            ForwardFigures(
                backend,
                round(statistics.median(singles) * 1000, 1),
                round(16 / statistics.median(batches), 1),
            )
        )
    return figures


def write_query_results(
    out_dir: Path, forwards: list[ForwardFigures], servers: list[ServerFigures], settings: dict[str, Any]
) -> tuple[Path, Path]:
    fp32 = next(f.batch1_ms for f in forwards if f.backend == TORCH)
    payload = {
        "suite": "query",
        "machine": machine(),
        "settings": settings,
        "forwards": [asdict(f) for f in forwards],
        "servers": [asdict(s) for s in servers],
        "torch_fp32_batch1_ms": fp32,
    }
    lines = [
        f"# snapbuy bench: query ({settings['model']}, localiser on, {settings['photos']} phone photos)",
        "",
        "## The bare image-tower forward",
        "",
        "| backend | batch 1 ms | vs torch fp32 | batch 16 images/s |",
        "|---|---|---|---|",
        *(
            f"| {f.backend} | {f.batch1_ms:.1f} | {fp32 / f.batch1_ms:.2f}x faster "
            f"| {f.batch16_images_per_s:.1f} |"
            for f in forwards
        ),
        *(
            f"\nNot timed: {backend}, since {why}."
            for backend, why in settings.get("backends_not_timed", {}).items()
        ),
    ]
    for server in servers:
        single = server.levels[0]
        lines += [
            "",
            f"## POST /v1/search over HTTP, backend {server.backend}",
            "",
            f"p50 at one client: {single.latency_ms['p50']:.0f} ms = "
            f"{single.latency_ms['p50'] / fp32:.2f}x torch's float32 batch-1 forward ({fp32:.0f} ms)."
            + (
                f" Levels timed in turn in {settings['rounds']} rounds; medians."
                if settings.get("rounds", 1) > 1
                else ""
            ),
            "",
            "| clients | requests | errors | p50 ms | p95 ms | p99 ms | requests/s | throughput vs 1 |",
            "|---|---|---|---|---|---|---|---|",
            *(
                f"| {lv.concurrency} | {lv.requests} | {lv.errors} | {lv.latency_ms['p50']:.0f} "
                f"| {lv.latency_ms['p95']:.0f} | {lv.latency_ms['p99']:.0f} | {lv.requests_per_second:.2f} "
                f"| {lv.requests_per_second / max(single.requests_per_second, 1e-9):.2f}x |"
                for lv in server.levels
            ),
        ]
    return write_results(out_dir, "query", payload, "\n".join(lines) + "\n")
