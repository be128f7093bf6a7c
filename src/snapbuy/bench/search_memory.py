"""Memory per SKU of an index bundle: the resident memory a fresh process gains by opening it and
answering queries, and the re-rank rows it reads from disk."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np

from snapbuy.bench.search_answers import run_queries, vectors_only_service
from snapbuy.bench.search_report import MEMORY_PROBE_QUERIES
from snapbuy.bench.synthetic_bundle import BuiltBundle, VectorsOnlyEmbedder, bench_model
from snapbuy.bundle import open_current
from snapbuy.index.exact_rows import EXACT_ROWS_FILE


def _resident_growth(root: str, queries: np.ndarray, seed: int) -> int:
    """In a fresh process: resident memory added by opening the index and answering queries."""
    baseline = _vm_rss()
    bundle = open_current(Path(root))
    service = vectors_only_service(bundle, VectorsOnlyEmbedder(bench_model(queries.shape[1], seed)))
    run_queries(service, queries)
    grown = _vm_rss() - baseline
    service.close()
    return grown


def rows_on_disk_bytes(built: BuiltBundle) -> int:
    """Size of re-rank rows read from disk per query (0 when they are loaded into RAM: already counted)."""
    rows = built.bundle.path / EXACT_ROWS_FILE
    on_disk = built.bundle.manifest.index.get("params", {}).get("rerank_rows") == "disk"
    return rows.stat().st_size if on_disk and rows.is_file() else 0


def _vm_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def ram_per_sku(root: Path, queries: np.ndarray, seed: int, size: int) -> float:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        grown = pool.apply(_resident_growth, (str(root), queries[:MEMORY_PROBE_QUERIES], seed))
    return round(grown / size, 1)
