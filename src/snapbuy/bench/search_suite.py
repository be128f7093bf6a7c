"""The `search` suite: full-answer latency, recall and memory of each index type at catalog scale,
through the product's own SearchService.

A full answer is what one shopper query costs: the category vote, the top-k matches over the whole
catalog and the top-k of every tier of the category, with their product records read from SQLite.
Every index type answers the same queries in the same run, interleaved over repeats, and is measured
against exact flat search: recall@k of the matches and of each tier list, and latency as a ratio."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snapbuy.bench.report import machine
from snapbuy.bench.search_answers import Answer, run_queries, vectors_only_service
from snapbuy.bench.search_memory import ram_per_sku, rows_on_disk_bytes
from snapbuy.bench.search_report import (
    WARM_UP_QUERIES,
    IndexFigures,
    K,
    markdown,
    write_plots,
)
from snapbuy.bench.synthetic_bundle import (
    BuiltBundle,
    VectorsOnlyEmbedder,
    bench_model,
    write_synthetic_bundle,
)
from snapbuy.bench.vectors import SyntheticCatalog, synthetic_catalog, synthetic_queries
from snapbuy.index import ApproximateIndex, IndexChoice, choose_index
from snapbuy.results import write_results
from snapbuy.search import SearchService

EFFORT_SWEEP = (0.25, 0.5, 2.0)  # multiples of an index's own effort, for the recall/latency curve


def default_contenders(size: int, dim: int, quick: bool) -> dict[str, IndexChoice]:
    """Exact flat first (the reference), then what `auto` picks, then the alternatives."""
    contenders = {"flat": choose_index("flat", size, dim), "auto": choose_index("auto", size, dim)}
    extra = ("ivf",) if quick else ("ivf", "hnsw")
    for name in extra:
        contenders[name] = choose_index(name, size, dim)
    return contenders


def _recall(found: tuple[str, ...], truth: tuple[str, ...]) -> float:
    return len(set(found) & set(truth)) / len(truth) if truth else 1.0


def _recall_figures(answers: list[Answer], truth: list[Answer], small: np.ndarray) -> dict[str, float]:
    matches = [_recall(a.matches, t.matches) for a, t in zip(answers, truth, strict=True)]
    per_tier: dict[str, list[float]] = {}
    worst = []
    for a, t in zip(answers, truth, strict=True):
        lists = [_recall(a.tiers.get(name, ()), want) for name, want in t.tiers.items()]
        for name, value in zip(t.tiers, lists, strict=True):
            per_tier.setdefault(name, []).append(value)
        worst.append(min(lists) if lists else 1.0)
    worst_array = np.array(worst)
    figures = {
        "matches": float(np.mean(matches)),
        "worst_list_mean": float(worst_array.mean()),
        "worst_list_min": float(worst_array.min()),
        "small_category_worst_list_mean": float(worst_array[small].mean()) if small.any() else float("nan"),
        "category_agreement": float(
            np.mean([a.category == t.category for a, t in zip(answers, truth, strict=True)])
        ),
        **{f"tier_{name}": float(np.mean(values)) for name, values in per_tier.items()},
    }
    return {key: round(value, 4) for key, value in figures.items()}


def _latency_figures(runs: list[list[float]]) -> dict[str, float]:
    """Median over repeats of each run's p50, p90 and p99."""
    return {
        f"p{q}": round(statistics.median(float(np.percentile(run, q)) for run in runs), 3)
        for q in (50, 90, 99)
    }


def run_search_suite(
    catalog: SyntheticCatalog,
    queries: np.ndarray,
    query_rows: np.ndarray,
    contenders: dict[str, IndexChoice],
    workdir: Path,
    *,
    repeats: int = 2,
    seed: int = 0,
    sweep: tuple[float, ...] = EFFORT_SWEEP,
) -> list[IndexFigures]:
    """`contenders`: name -> index choice; the first must be exact flat search, the reference."""
    if next(iter(contenders.values())).kind != "flat":
        raise ValueError("the first contender must be flat: it is the reference for recall and speed")
    small = catalog.category[query_rows] == 0
    built: dict[str, BuiltBundle] = {
        name: write_synthetic_bundle(catalog, workdir / name, choice, seed)
        for name, choice in contenders.items()
    }
    model = VectorsOnlyEmbedder(bench_model(catalog.vectors.shape[1], seed))
    services = {name: vectors_only_service(b.bundle, model) for name, b in built.items()}
    try:
        runs: dict[str, list[list[float]]] = {name: [] for name in services}
        answers: dict[str, list[Answer]] = {}
        # Warm-up with other queries than the timed ones: caches reach a steady state (the page cache
        # holds what a running server would have read) without holding exactly the timed queries' rows.
        warm_up = synthetic_queries(
            catalog, np.random.default_rng(seed + 7).integers(0, catalog.size, WARM_UP_QUERIES), seed=seed + 8
        )
        for service in services.values():
            run_queries(service, warm_up)
        for _ in range(repeats):  # interleaved, so machine noise hits every index alike
            for name, service in services.items():
                got, latencies = run_queries(service, queries)
                answers.setdefault(name, got)
                runs[name].append(latencies)
        truth = answers[next(iter(services))]
        results = []
        for name, service in services.items():
            choice, b = contenders[name], built[name]
            results.append(
                IndexFigures(
                    name=name,
                    kind=choice.kind,
                    factory=choice.factory,
                    reason=choice.reason,
                    index_build_seconds=round(b.index_seconds, 2),
                    bundle_build_seconds=round(b.total_seconds, 2),
                    ram_bytes_per_sku=ram_per_sku(workdir / name, queries, seed, catalog.size),
                    cached_rows_bytes_per_sku=round(rows_on_disk_bytes(b) / catalog.size, 1),
                    disk_bytes_per_sku=round(b.disk_bytes / catalog.size, 1),
                    latency_ms=_latency_figures(runs[name]),
                    recall=_recall_figures(answers[name], truth, small),
                    sweep=_effort_sweep(service, queries, truth, small, sweep),
                )
            )
    finally:
        for service in services.values():
            service.close()
    flat_p50 = results[0].latency_ms["p50"]
    for figures in results:
        figures.speedup_vs_flat = round(flat_p50 / max(figures.latency_ms["p50"], 1e-6), 2)
    return results


def _effort_sweep(
    service: SearchService,
    queries: np.ndarray,
    truth: list[Answer],
    small: np.ndarray,
    multiples: tuple[float, ...],
) -> list[dict[str, float]]:
    """Recall and latency of one index at other search efforts (one run each), for the curve."""
    index = service.catalog.index
    if not isinstance(index, ApproximateIndex):
        return []
    points = []
    for multiple in multiples:
        got, latencies = run_queries(service, queries, effort_scale=multiple)
        recall = _recall_figures(got, truth, small)
        points.append(
            {
                "effort": index.effort.scaled(multiple).base,
                "p50_ms": round(statistics.median(latencies), 3),
                "matches": recall["matches"],
                "worst_list_mean": recall["worst_list_mean"],
            }
        )
    return points


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


@dataclass(frozen=True)
class SearchBenchSettings:
    size: int
    queries: int
    workdir: Path
    out_dir: Path
    quick: bool = False
    repeats: int = 2
    seed: int = 0
    spectrum: str = "decaying"
    index_types: tuple[str, ...] = ()  # empty: default_contenders()


def search_benchmark(
    settings: SearchBenchSettings,
) -> tuple[tuple[Path, Path], list[IndexFigures], list[Path]]:
    started = time.perf_counter()
    catalog = synthetic_catalog(settings.size, seed=settings.seed, spectrum=settings.spectrum)  # type: ignore[arg-type]
    generate_seconds = time.perf_counter() - started
    dim = catalog.vectors.shape[1]
    if settings.index_types:
        contenders = {"flat": choose_index("flat", settings.size, dim)}
        contenders |= {t: choose_index(t, settings.size, dim) for t in settings.index_types if t != "flat"}
    else:
        contenders = default_contenders(settings.size, dim, settings.quick)
    queries, rows = stratified_queries(catalog, settings.queries, settings.seed + 1)
    results = run_search_suite(
        catalog, queries, rows, contenders, settings.workdir, repeats=settings.repeats, seed=settings.seed
    )
    payload: dict[str, Any] = {
        "suite": "search",
        "machine": machine(),
        "settings": {
            "size": settings.size,
            "queries": settings.queries,
            "repeats": settings.repeats,
            "seed": settings.seed,
            "spectrum": settings.spectrum,
            "k": K,
            "dim": dim,
        },
        "generate_seconds": round(generate_seconds, 2),
        "indexes": [asdict(r) for r in results],
    }
    text = markdown(
        results,
        generate_seconds,
        size=settings.size,
        queries=settings.queries,
        repeats=settings.repeats,
        spectrum=settings.spectrum,
    )
    paths = write_results(settings.out_dir, "search", payload, text)
    plots = write_plots(paths[0].with_suffix(""), results)
    return paths, results, plots
