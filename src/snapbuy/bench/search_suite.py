"""The `search` suite: index build and full-answer query latency and recall, per index type, at scale.

A full answer is what one shopper query costs: the top-k matches over the whole catalog plus the top-k
of every tier of the query's category. Every approximate index is measured against exact flat search
in the same run: recall@k of the matches and of each tier list, and latency as a ratio."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snapbuy.bench.report import machine, write_results
from snapbuy.bench.vectors import SyntheticCatalog, synthetic_catalog, synthetic_queries

K = 10


@dataclass
class IndexFigures:
    name: str
    factory: str
    build_seconds: float
    bytes_per_vector: float
    latency_ms: dict[str, float]  # p50, p99 of the full answer
    recall: dict[str, float]  # matches, and the worst and mean over tier lists
    smallest_category_tier_recall: float  # mean tier recall for queries in the 1 % category
    speedup_vs_flat: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    def row(self) -> str:
        r, lat = self.recall, self.latency_ms
        return (
            f"| {self.name} | `{self.factory}` | {lat['p50']:.2f} | {lat['p99']:.2f} "
            f"| {self.speedup_vs_flat:.1f}x | {r['matches']:.3f} | {r['tiers_mean']:.3f} "
            f"| {r['tiers_worst_list']:.2f} | {self.smallest_category_tier_recall:.3f} "
            f"| {self.bytes_per_vector:.0f} | {self.build_seconds:.1f} |"
        )


TABLE_HEADER = (
    "| index | factory | p50 ms | p99 ms | vs flat | matches R@10 | tiers R@10 (mean) | worst tier list "
    "| 1 % category tiers R@10 | bytes/vector | build s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def quick_candidates(size: int) -> dict[str, tuple[str, int]]:
    """The approximate indexes compared by default: HNSW over SQ8 codes, and IVF over SQ8 codes."""
    nlist = max(16, int(4 * np.sqrt(size)) // 16 * 16)
    return {"hnsw32_sq8": ("HNSW32,SQ8", 64), "ivf_sq8": (f"IVF{nlist},SQ8", 16)}


def _search_params(index: Any, id_range: tuple[int, int] | None, effort: int) -> Any:
    """Per-call parameters (never set on the shared index): an id range plus search effort."""
    import faiss

    lib: Any = faiss  # faiss's type stubs lack the SWIG keyword constructors
    sel = lib.IDSelectorRange(*id_range) if id_range is not None else None
    if isinstance(index, lib.IndexHNSW):
        return lib.SearchParametersHNSW(sel=sel, efSearch=effort)
    if lib.try_extract_index_ivf(index) is not None:
        return lib.SearchParametersIVF(sel=sel, nprobe=effort)
    return lib.SearchParameters(sel=sel)


def full_answer(
    index: Any, query: np.ndarray, tier_ranges: list[tuple[int, int]], effort: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Ids of the top-k matches and of the top-k of each tier range for one query row."""
    q = query.reshape(1, -1)
    _, matches = index.search(q, K, params=_search_params(index, None, effort))
    tiers = [index.search(q, K, params=_search_params(index, r, effort))[1][0] for r in tier_ranges]
    return matches[0], tiers


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    truth = truth[truth >= 0]
    if len(truth) == 0:
        return 1.0
    return len(set(found[found >= 0].tolist()) & set(truth.tolist())) / len(truth)


def _build(factory: str, vectors: np.ndarray) -> tuple[Any, float]:
    import faiss

    started = time.perf_counter()
    index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        ivf = faiss.try_extract_index_ivf(index)
        # faiss wants about 40 training points per IVF list (and 256 per PQ/SQ code book entry).
        wanted = max(40 * (ivf.nlist if ivf is not None else 0), 256 * 64, len(vectors) // 10)
        rows = np.random.default_rng(0).permutation(len(vectors))[:wanted]
        index.train(vectors[np.sort(rows)])
    index.add(vectors)
    return index, time.perf_counter() - started


def run_search_suite(
    catalog: SyntheticCatalog,
    queries: np.ndarray,
    query_rows: np.ndarray,
    candidates: dict[str, tuple[str, int]],
) -> list[IndexFigures]:
    """`candidates`: name -> (faiss factory string, search effort). Exact flat search runs first and
    is the reference for every other index's recall and speed."""
    import faiss

    ranges = catalog.ranges()
    tiers_of = {c: sorted(t for (cc, t) in ranges if cc == c) for c in {cc for cc, _ in ranges}}
    per_query_ranges = [
        [ranges[(int(catalog.category[row]), t)] for t in tiers_of[int(catalog.category[row])]]
        for row in query_rows
    ]
    small = catalog.category[query_rows] == 0
    results: list[IndexFigures] = []
    truth: list[tuple[np.ndarray, list[np.ndarray]]] = []
    for name, (factory, effort) in {"flat": ("Flat", 0), **candidates}.items():
        index, build_seconds = _build(factory, catalog.vectors)
        latencies, match_recall, tier_recall = [], [], []
        for i, query in enumerate(queries):
            started = time.perf_counter()
            answer = full_answer(index, query, per_query_ranges[i], effort)
            latencies.append((time.perf_counter() - started) * 1000)
            if name == "flat":
                truth.append(answer)
            match_recall.append(_recall(answer[0], truth[i][0]))
            tier_recall.append([_recall(a, t) for a, t in zip(answer[1], truth[i][1], strict=True)])
        per_query_tiers = np.array([np.mean(t) for t in tier_recall])
        results.append(
            IndexFigures(
                name=name,
                factory=factory,
                build_seconds=round(build_seconds, 2),
                bytes_per_vector=round(len(faiss.serialize_index(index)) / catalog.size, 1),
                latency_ms={
                    "p50": round(statistics.median(latencies), 3),
                    "p99": round(float(np.percentile(latencies, 99)), 3),
                },
                recall={
                    "matches": round(float(np.mean(match_recall)), 4),
                    "tiers_mean": round(float(per_query_tiers.mean()), 4),
                    "tiers_worst_list": round(float(min(min(t) for t in tier_recall)), 4),
                },
                smallest_category_tier_recall=round(float(per_query_tiers[small].mean()), 4)
                if small.any()
                else float("nan"),
                params={"effort": effort},
            )
        )
        del index
    flat_p50 = results[0].latency_ms["p50"]
    for figures in results:
        figures.speedup_vs_flat = round(flat_p50 / max(figures.latency_ms["p50"], 1e-6), 2)
    return results


def stratified_queries(catalog: SyntheticCatalog, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(queries, their source rows): a fifth from the 1 % category, whose tier lists are the hard case
    for filtered approximate search, the rest from anywhere."""
    rng = np.random.default_rng(seed)
    small_start, small_end = catalog.category_range(0)
    n_small = count // 5
    rows = np.r_[
        rng.integers(small_start, small_end, n_small), rng.integers(0, catalog.size, count - n_small)
    ]
    return synthetic_queries(catalog, rows, seed=seed + 1), rows


def search_benchmark(
    size: int,
    n_queries: int,
    out_dir: Path,
    seed: int = 0,
    candidates: dict[str, tuple[str, int]] | None = None,
) -> tuple[tuple[Path, Path], list[IndexFigures]]:
    started = time.perf_counter()
    catalog = synthetic_catalog(size, seed=seed)
    generate_seconds = time.perf_counter() - started
    queries, rows = stratified_queries(catalog, n_queries, seed + 1)
    results = run_search_suite(catalog, queries, rows, candidates or quick_candidates(size))
    payload = {
        "suite": "search",
        "machine": machine(),
        "settings": {
            "size": size,
            "queries": n_queries,
            "seed": seed,
            "k": K,
            "dim": catalog.vectors.shape[1],
        },
        "generate_seconds": round(generate_seconds, 2),
        "indexes": [asdict(r) for r in results],
    }
    paths = write_results(out_dir, "search", payload, markdown(size, n_queries, results, generate_seconds))
    return paths, results


def markdown(size: int, n_queries: int, results: list[IndexFigures], generate_seconds: float) -> str:
    lines = [
        f"# snapbuy bench: search ({size:,} SKUs, {n_queries} queries, one at a time)",
        "",
        f"Synthetic CLIP-like 512-d vectors (generated in {generate_seconds:.1f} s), 20 categories"
        " (one with 1 % of the SKUs), 3 tiers each. A full answer is the top-10 matches plus the top-10"
        " of each tier of the query's category. Recall is against exact flat search in the same run;"
        " `vs flat` is the ratio of median latencies.",
        "",
        TABLE_HEADER,
        *(r.row() for r in results),
    ]
    return "\n".join(lines) + "\n"
