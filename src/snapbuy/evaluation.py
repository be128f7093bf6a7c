"""`snapbuy eval`: retrieval quality of an index on shopper photos with known answers.

Metrics: recall@1 and recall@10 of the exact SKU and of the item group (design), category accuracy,
and per-tier sanity (every tier list lies in the query's true category and inside its price bounds);
broken down by shopper-photo transform family when the queries file says which were applied. With a
product localiser and a `product_box` column, also how often it found the product (box IoU >= 0.5)."""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snapbuy.crops import box_iou
from snapbuy.errors import CatalogError, ImageError
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, load_image_file, upright_size
from snapbuy.results import write_results
from snapbuy.search import SearchOptions, SearchResult, SearchService

RECALL_DEPTH = 10
REQUIRED = ("image", "sku", "item_group_id", "category")
# A found box counts as the product when it overlaps the true box this much (intersection over union).
LOCATED_IOU = 0.5


@dataclass
class QueryOutcome:
    sku_rank: int | None  # 1-based rank of the true SKU in matches, None if absent
    group_rank: int | None
    category_ok: bool
    tiers_ok: bool
    families: tuple[str, ...]
    seconds: float
    located: bool | None = None  # the localiser's box matched product_box; None: not measured


@dataclass
class EvalReport:
    queries: int
    failed_images: int
    metrics: dict[str, float]
    by_family: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "failed_images": self.failed_images,
            "metrics": self.metrics,
            "by_family": self.by_family,
            "latency_ms": self.latency_ms,
            "settings": self.settings,
        }

    def to_markdown(self) -> str:
        m = self.metrics
        lines = [
            "# snapbuy retrieval evaluation",
            "",
            f"{self.queries} shopper photos ({self.failed_images} unreadable), index "
            f"{self.settings.get('index_version')}, model `{self.settings.get('model')}`.",
            "",
            "| metric | value |",
            "|---|---|",
            *(f"| {name} | {value:.3f} |" for name, value in m.items()),
            "",
            "Latency per photo (decode + finding the product + embed + search): "
            f"median {self.latency_ms.get('p50', 0):.1f} ms, p99 {self.latency_ms.get('p99', 0):.1f} ms.",
        ]
        if self.by_family:
            lines += [
                "",
                "| transform family | photos | group R@1 | SKU R@10 | category acc |",
                "|---|---|---|---|---|",
            ]
            for family, f in sorted(self.by_family.items()):
                lines.append(
                    f"| {family} | {int(f['queries'])} | {f['group_recall@1']:.3f} "
                    f"| {f['sku_recall@10']:.3f} | {f['category_accuracy']:.3f} |"
                )
        return "\n".join(lines) + "\n"


def _rank(items: list[str], truth: str) -> int | None:
    return items.index(truth) + 1 if truth in items else None


def _tiers_ok(result: SearchResult, true_category: str, service: SearchService) -> bool:
    bounds = {b.name: b for b in service.catalog.tier_bounds.get(true_category, [])}
    for tier in result.tiers:
        bound = bounds.get(tier.name)
        if bound is None or any(
            i.category != true_category or not bound.contains(i.price_paid) for i in tier.items
        ):
            return False
    return True


def _located(service: SearchService, result: SearchResult, row: dict[str, str], photo: Path) -> bool | None:
    """Did the localiser find the product (the box search used)? None without a localiser or a
    product_box to check. The product_box is in the pixels of the `photo` file, upright."""
    truth = row.get("product_box", "").split()
    if service.encoder.localiser is None or len(truth) != 4:
        return None
    found = result.found
    if found is None or found.source != "localiser":
        return False
    # Search saw the photo decoded smaller (as the server decodes uploads): the truth is scaled to it.
    width, height = upright_size(photo)
    scale_x, scale_y = found.photo_size[0] / width, found.photo_size[1] / height
    x0, y0, x1, y1 = (int(v) for v in truth)
    scaled = (round(x0 * scale_x), round(y0 * scale_y), round(x1 * scale_x), round(y1 * scale_y))
    return box_iou(found.box, scaled) >= LOCATED_IOU


def _summary(outcomes: list[QueryOutcome]) -> dict[str, float]:
    n = max(1, len(outcomes))

    def recall(ranks: list[int | None], depth: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= depth) / n

    sku = [o.sku_rank for o in outcomes]
    group = [o.group_rank for o in outcomes]
    return {
        "queries": float(len(outcomes)),
        "sku_recall@1": recall(sku, 1),
        "sku_recall@10": recall(sku, RECALL_DEPTH),
        "group_recall@1": recall(group, 1),
        "group_recall@10": recall(group, RECALL_DEPTH),
        "category_accuracy": sum(o.category_ok for o in outcomes) / n,
        "tier_sanity": sum(o.tiers_ok for o in outcomes) / n,
        **_located_share(outcomes),
    }


def _located_share(outcomes: list[QueryOutcome]) -> dict[str, float]:
    measured = [o.located for o in outcomes if o.located is not None]
    return {"product_located": sum(measured) / len(measured)} if measured else {}


def read_queries(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise CatalogError(str(path), 1, missing[0], f"queries file needs columns {', '.join(REQUIRED)}")
        return list(reader)


def evaluate(
    service: SearchService,
    queries_csv: Path,
    *,
    k: int = RECALL_DEPTH,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    rows = read_queries(queries_csv)[:limit]
    outcomes: list[QueryOutcome] = []
    failed = 0
    for number, row in enumerate(rows, start=1):
        started = time.perf_counter()
        try:
            # Decoded to the size the server decodes an upload to, so that the figures are what a
            # shopper's upload gets.
            path = queries_csv.parent / row["image"]
            image = load_image_file(
                path,
                max_bytes=LOCAL_FILE_MAX_BYTES,
                max_pixels=LOCAL_FILE_MAX_PIXELS,
                detail_side=service.encoder.photo_side,
            )
        except ImageError:
            failed += 1
            continue
        # Variants listed on their own, so that SKU recall counts the exact variant at its rank.
        result = service.search_image(image, SearchOptions(k=max(k, RECALL_DEPTH), collapse=False))
        seconds = time.perf_counter() - started
        matches = result.matches[:RECALL_DEPTH]
        groups = list(dict.fromkeys(m.item_group_id or m.sku for m in matches))
        outcomes.append(
            QueryOutcome(
                sku_rank=_rank([m.sku for m in matches], row["sku"]),
                group_rank=_rank(groups, row["item_group_id"]),
                category_ok=result.category == row["category"],
                tiers_ok=_tiers_ok(result, row["category"], service),
                families=tuple(row.get("families", "").split()),
                seconds=seconds,
                located=_located(service, result, row, path),
            )
        )
        if progress is not None:
            progress(number, len(rows))
    by_family: dict[str, dict[str, float]] = {}
    for family in sorted({f for o in outcomes for f in o.families}):
        by_family[family] = _summary([o for o in outcomes if family in o.families])
    latencies = sorted(o.seconds * 1000 for o in outcomes)
    manifest = service.bundle.manifest
    return EvalReport(
        queries=len(outcomes),
        failed_images=failed,
        metrics={k: v for k, v in _summary(outcomes).items() if k != "queries"},
        by_family=by_family,
        latency_ms={
            "p50": statistics.median(latencies) if latencies else 0.0,
            "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else 0.0,
        },
        settings={
            "queries_file": str(queries_csv),
            "index_version": manifest.version,
            "model": service.embedder.identity.spec,
            "random_weights": service.embedder.identity.is_random,
            "localiser": service.encoder.localiser is not None,
            **service.encoder.framing.to_json(),
            "catalog_views": manifest.vectors.get("catalog_views", 0),
            "recall_depth": RECALL_DEPTH,
        },
    )


def write_report(report: EvalReport, out_dir: Path, name: str) -> tuple[Path, Path]:
    """OUT/<name>-<UTC time>.json and .md."""
    return write_results(out_dir, name, report.to_json(), report.to_markdown())
