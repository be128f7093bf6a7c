"""The `search` suite's figures per index type, and how they are written: the table, the floors at 1M
SKUs, the plots."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from snapbuy.bench.plots import xy_chart

K = 10
MEMORY_PROBE_QUERIES = 200
WARM_UP_QUERIES = 200


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


def markdown(
    results: list[IndexFigures],
    generate_seconds: float,
    *,
    size: int,
    queries: int,
    repeats: int,
    spectrum: str,
) -> str:
    lines = [
        f"# snapbuy bench: search ({size:,} SKUs, {queries} queries one at a time, "
        f"{repeats} interleaved repeats)",
        "",
        f"Synthetic CLIP-like 512-d vectors ({spectrum} spectrum, "
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
