"""The `search` suite: full-answer latency, recall and memory of each index type at catalog scale,
through the product's own SearchService.

A full answer is what one shopper query costs: the category vote, the top-k matches over the whole
catalog and the top-k of every tier of the category, with their product records read from SQLite.
Every index type answers the same queries in the same run, interleaved over repeats, and is measured
against exact flat search: recall@k of the matches and of each tier list, and latency as a ratio."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from snapbuy.bench.plots import xy_chart
from snapbuy.bench.report import machine
from snapbuy.bench.synthetic_bundle import (
    BuiltBundle,
    VectorsOnlyEmbedder,
    bench_model,
    write_synthetic_bundle,
)
from snapbuy.bench.vectors import SyntheticCatalog, synthetic_catalog, synthetic_queries
from snapbuy.bundle import open_current
from snapbuy.index import ApproximateIndex, IndexChoice, choose_index
from snapbuy.index.exact_rows import EXACT_ROWS_FILE
from snapbuy.results import write_results
from snapbuy.search import SearchOptions, SearchService

K = 10
EFFORT_SWEEP = (0.25, 0.5, 2.0)  # multiples of an index's own effort, for the recall/latency curve
MEMORY_PROBE_QUERIES = 200
WARM_UP_QUERIES = 200


@dataclass(frozen=True)
class Answer:
    category: str
    matches: tuple[str, ...]
    tiers: dict[str, tuple[str, ...]]


@dataclass
class IndexFigures:
    name: str
    kind: str
    factory: str
    reason: str
    index_build_seconds: float
    bundle_build_seconds: float
    ram_bytes_per_sku: float
    cached_rows_bytes_per_sku: float  # float16 re-rank rows read from disk through the page cache
    disk_bytes_per_sku: float
    latency_ms: dict[str, float]  # p50, p90, p99: medians over repeats
    recall: dict[str, float]
    speedup_vs_flat: float = 1.0
    sweep: list[dict[str, float]] = field(default_factory=list)

    @property
    def ram_with_cached_rows(self) -> float:
        return self.ram_bytes_per_sku + self.cached_rows_bytes_per_sku

    def row(self) -> str:
        r, lat = self.recall, self.latency_ms
        tiers = " / ".join(f"{r[f'tier_{t}']:.3f}" for t in ("budget", "mid", "premium"))
        return (
            f"| {self.name} | `{self.factory}` | {lat['p50']:.2f} | {lat['p99']:.2f} "
            f"| {self.speedup_vs_flat:.1f}x | {r['matches']:.3f} | {tiers} | {r['worst_list_mean']:.3f} "
            f"| {r['small_category_worst_list_mean']:.3f} | {r['category_agreement']:.3f} "
            f"| {self.ram_bytes_per_sku:,.0f} | {self.ram_with_cached_rows:,.0f} "
            f"| {self.disk_bytes_per_sku:,.0f} "
            f"| {self.index_build_seconds:.1f} |"
        )


TABLE_HEADER = (
    "| index | factory | p50 ms | p99 ms | vs flat | matches R@10 | tiers R@10 budget / mid / premium "
    "| worst tier list (mean) | 1 % category, worst list | same category as flat | RAM B/SKU (process) "
    "| RAM B/SKU with re-rank rows cached | disk B/SKU | index build s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def default_contenders(size: int, dim: int, quick: bool) -> dict[str, IndexChoice]:
    """Exact flat first (the reference), then what `auto` picks, then the alternatives."""
    contenders = {"flat": choose_index("flat", size, dim), "auto": choose_index("auto", size, dim)}
    extra = ("ivf",) if quick else ("ivf", "hnsw")
    for name in extra:
        contenders[name] = choose_index(name, size, dim)
    return contenders


def answer_of(service: SearchService, query: np.ndarray, options: SearchOptions) -> Answer:
    result = service.search_vector(query, options)
    return Answer(
        result.category,
        tuple(item.sku for item in result.matches),
        {tier.name: tuple(item.sku for item in tier.items) for tier in result.tiers},
    )


def _recall(found: tuple[str, ...], truth: tuple[str, ...]) -> float:
    return len(set(found) & set(truth)) / len(truth) if truth else 1.0


def _run_queries(service: SearchService, queries: np.ndarray) -> tuple[list[Answer], list[float]]:
    options = SearchOptions(k=K)
    answers, latencies = [], []
    for query in queries:
        started = time.perf_counter()
        answers.append(answer_of(service, query, options))
        latencies.append((time.perf_counter() - started) * 1000)
    return answers, latencies


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


def _resident_growth(root: str, queries: np.ndarray, seed: int) -> int:
    """In a fresh process: resident memory added by opening the index and answering queries."""
    baseline = _vm_rss()
    bundle = open_current(Path(root))
    service = SearchService(VectorsOnlyEmbedder(bench_model(queries.shape[1], seed)), bundle, ())
    _run_queries(service, queries)
    grown = _vm_rss() - baseline
    service.close()
    return grown


def _rows_on_disk_bytes(built: BuiltBundle) -> int:
    """Size of re-rank rows read from disk per query (0 when they are loaded into RAM: already counted)."""
    rows = built.bundle.path / EXACT_ROWS_FILE
    on_disk = built.bundle.manifest.index.get("params", {}).get("rerank_rows") == "disk"
    return rows.stat().st_size if on_disk and rows.is_file() else 0


def _vm_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _ram_per_sku(root: Path, queries: np.ndarray, seed: int, size: int) -> float:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        grown = pool.apply(_resident_growth, (str(root), queries[:MEMORY_PROBE_QUERIES], seed))
    return round(grown / size, 1)


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
    services = {name: SearchService(model, b.bundle, ()) for name, b in built.items()}
    try:
        runs: dict[str, list[list[float]]] = {name: [] for name in services}
        answers: dict[str, list[Answer]] = {}
        # Warm-up with other queries than the timed ones: caches reach a steady state (the page cache
        # holds what a running server would have read) without holding exactly the timed queries' rows.
        warm_up = synthetic_queries(
            catalog, np.random.default_rng(seed + 7).integers(0, catalog.size, WARM_UP_QUERIES), seed=seed + 8
        )
        for service in services.values():
            _run_queries(service, warm_up)
        for _ in range(repeats):  # interleaved, so machine noise hits every index alike
            for name, service in services.items():
                got, latencies = _run_queries(service, queries)
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
                    ram_bytes_per_sku=_ram_per_sku(workdir / name, queries, seed, catalog.size),
                    cached_rows_bytes_per_sku=round(_rows_on_disk_bytes(b) / catalog.size, 1),
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
    index = service.index
    if not isinstance(index, ApproximateIndex):
        return []
    points = []
    try:
        for multiple in multiples:
            effort = replace(index.effort, base=max(1, round(index.effort.base * multiple)))
            service.index = index.with_effort(effort)
            got, latencies = _run_queries(service, queries)
            recall = _recall_figures(got, truth, small)
            points.append(
                {
                    "effort": effort.base,
                    "p50_ms": round(statistics.median(latencies), 3),
                    "matches": recall["matches"],
                    "worst_list_mean": recall["worst_list_mean"],
                }
            )
    finally:
        service.index = index
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
    text = markdown(settings, results, generate_seconds)
    paths = write_results(settings.out_dir, "search", payload, text)
    plots = write_plots(paths[0].with_suffix(""), results)
    return paths, results, plots


def write_plots(stem: Path, results: list[IndexFigures]) -> list[Path]:
    curve = {
        r.name: [(p["p50_ms"], p["worst_list_mean"]) for p in r.sweep]
        + [(r.latency_ms["p50"], r.recall["worst_list_mean"])]
        for r in results
    }
    percentiles = {r.name: [(float(q), r.latency_ms[f"p{q}"]) for q in (50, 90, 99)] for r in results}
    return [
        xy_chart(
            stem.with_name(stem.name + "-recall-vs-latency.png"),
            "Full answer: worst tier list recall@10 (mean) against median latency, per index type",
            "median latency per full answer, ms (log)",
            "recall@10",
            curve,
            log_x=True,
        ),
        xy_chart(
            stem.with_name(stem.name + "-latency-percentiles.png"),
            "Full-answer latency percentiles per index type",
            "percentile",
            "ms (log)",
            percentiles,
            log_y=True,
        ),
    ]


FLOORS_AT_1M = (
    "p50 <= 10 ms, p99 <= 30 ms, recall@10 >= 0.95 (matches, every tier list), >= 20x flat, "
    "<= 1.2 KB RAM/SKU, build <= 15 min"
)


def floor_lines(figures: IndexFigures) -> list[str]:
    r = figures.recall
    tier_lists = [value for key, value in r.items() if key.startswith("tier_")]
    checks = [
        ("p50 <= 10 ms", figures.latency_ms["p50"] <= 10, f"{figures.latency_ms['p50']:.2f} ms"),
        ("p99 <= 30 ms", figures.latency_ms["p99"] <= 30, f"{figures.latency_ms['p99']:.2f} ms"),
        ("matches recall@10 >= 0.95", r["matches"] >= 0.95, f"{r['matches']:.3f}"),
        ("every tier list recall@10 >= 0.95", min(tier_lists) >= 0.95, f"lowest tier {min(tier_lists):.3f}"),
        (
            "1 % category tier lists >= 0.95",
            r["small_category_worst_list_mean"] >= 0.95,
            f"{r['small_category_worst_list_mean']:.3f} (worst list per query)",
        ),
        (">= 20x faster than flat", figures.speedup_vs_flat >= 20, f"{figures.speedup_vs_flat:.1f}x"),
        (
            "<= 1.2 KB RAM per SKU (process)",
            figures.ram_bytes_per_sku <= 1200,
            f"{figures.ram_bytes_per_sku:,.0f} B",
        ),
        (
            "<= 1.2 KB RAM per SKU, re-rank rows held in the page cache too",
            figures.ram_with_cached_rows <= 1200,
            f"{figures.ram_with_cached_rows:,.0f} B",
        ),
        ("build <= 15 min", figures.bundle_build_seconds <= 900, f"{figures.bundle_build_seconds:.0f} s"),
    ]
    return [f"- {'met' if ok else 'MISSED'}: {name} ({value})" for name, ok, value in checks]


def markdown(settings: SearchBenchSettings, results: list[IndexFigures], generate_seconds: float) -> str:
    lines = [
        f"# snapbuy bench: search ({settings.size:,} SKUs, {settings.queries} queries one at a time, "
        f"{settings.repeats} interleaved repeats)",
        "",
        f"Synthetic CLIP-like 512-d vectors ({settings.spectrum} spectrum, "
        f"generated in {generate_seconds:.1f} s),"
        " 20 categories (one with 1 % of the SKUs), 3 price tiers each. A full answer is SearchService's:"
        f" category vote, top-{K} matches and top-{K} of every tier of the category, records from SQLite."
        " Recall is against exact flat search in the same run; `vs flat` is the ratio of median latencies;"
        " RAM (process) is the resident memory a fresh process gains by opening the index and answering"
        f" {MEMORY_PROBE_QUERIES} queries; approximate indexes also read float16 re-rank rows from disk"
        " through the OS page cache, counted in the next column as if all were cached; disk counts every"
        f" file of the bundle. Each index answers {WARM_UP_QUERIES} other queries before timing starts.",
        "",
        TABLE_HEADER,
        *(r.row() for r in results),
        "",
        "Why each index type was chosen:",
        *(f"- {r.name}: {r.reason}" for r in results),
    ]
    default = next((r for r in results if r.name == "auto"), None)
    if default is not None:
        lines += [
            "",
            f"Issue floors ({FLOORS_AT_1M}; stated for 1M SKUs), for `auto` at this size:",
            *floor_lines(default),
        ]
    return "\n".join(lines) + "\n"
