"""Per-product recall on photos of several products (the demo's several.csv): for each product in a
photo, whether search answered for it (a group whose box overlaps its true box, IoU >= 0.5) and
whether that group's best match is its design. Measured at several thresholds on the localiser's
confidence for the products after the first, from one search per photo that keeps every product the
localiser finds; the same thresholds on one-product photos (queries.csv) count the answers for
products that are not there."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from snapbuy.crops import Box, box_iou
from snapbuy.evaluation import LOCATED_IOU, read_queries
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, load_image_file
from snapbuy.search import SearchOptions, SearchService
from snapbuy.search.results import ProductAnswer

THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.01)
MOST_PRODUCTS = 5


@dataclass(frozen=True)
class SeveralOutcome:
    """At one `threshold`: shares of the products in several-product photos that got an answer
    (`found`) and whose answer's best match is their design (`design_at_1`); answers per photo; and
    on one-product photos, answers beyond the one product per photo (`extra_on_single`)."""

    threshold: float
    found: float
    design_at_1: float
    answers_per_photo: float
    extra_on_single: float


def _boxes(text: str) -> list[Box]:
    boxes: list[Box] = []
    for part in text.split(";"):
        x0, y0, x1, y1 = (int(v) for v in part.split())
        boxes.append((x0, y0, x1, y1))
    return boxes


def _kept(groups: Sequence[ProductAnswer], threshold: float) -> list[ProductAnswer]:
    """The groups a search with this product_min_score answers: the first always."""
    return [g for i, g in enumerate(groups) if i == 0 or (g.found.score or 0.0) >= threshold]


def several_products_recall(
    service: SearchService,
    several: Path,
    single: Path | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int, list[SeveralOutcome]]:
    """(photos, products in them, outcome per threshold)."""
    with several.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    singles = read_queries(single)[:limit] if single is not None else []
    options = SearchOptions(k=1)
    found = dict.fromkeys(thresholds, 0)
    right = dict.fromkeys(thresholds, 0)
    answers = dict.fromkeys(thresholds, 0)
    extra = dict.fromkeys(thresholds, 0)
    products = 0
    total = len(rows) + len(singles)

    def search(path: Path) -> list[ProductAnswer]:
        image = load_image_file(path, max_bytes=LOCAL_FILE_MAX_BYTES, max_pixels=LOCAL_FILE_MAX_PIXELS)
        return service.search_image(image, options, max_products=MOST_PRODUCTS, product_min_score=0.0).groups

    for done, row in enumerate(rows, 1):
        groups = search(several.parent / row["image"])
        truths = list(zip(row["item_group_ids"].split(), _boxes(row["product_boxes"]), strict=True))
        products += len(truths)
        for threshold in thresholds:
            kept = _kept(groups, threshold)
            answers[threshold] += len(kept)
            for design, box in truths:
                hits = [g for g in kept if box_iou(g.found.box, box) >= LOCATED_IOU]
                if hits:
                    found[threshold] += 1
                    best = max(hits, key=lambda g: box_iou(g.found.box, box))
                    right[threshold] += bool(best.matches) and best.matches[0].item_group_id == design
        if progress is not None:
            progress(done, total)
    for done, row in enumerate(singles, len(rows) + 1):
        groups = search(single.parent / row["image"]) if single is not None else []
        for threshold in thresholds:
            extra[threshold] += len(_kept(groups, threshold)) - 1
        if progress is not None:
            progress(done, total)
    outcomes = [
        SeveralOutcome(
            t,
            found[t] / max(products, 1),
            right[t] / max(products, 1),
            answers[t] / max(len(rows), 1),
            extra[t] / len(singles) if singles else 0.0,
        )
        for t in thresholds
    ]
    return len(rows), products, outcomes


def outcomes_markdown(photos: int, products: int, singles: bool, outcomes: Sequence[SeveralOutcome]) -> str:
    lines = [
        f"{photos} photos of several products ({products} products); found: an answer's box overlaps the "
        f"product's (IoU >= {LOCATED_IOU})",
        "",
        "| product_min_score | products found | design R@1 per product | answers per photo |"
        + (" extra answers per one-product photo |" if singles else ""),
        "|---|---|---|---|" + ("---|" if singles else ""),
    ]
    for o in outcomes:
        line = f"| {o.threshold:g} | {o.found:.3f} | {o.design_at_1:.3f} | {o.answers_per_photo:.2f} |"
        lines.append(line + (f" {o.extra_on_single:.3f} |" if singles else ""))
    return "\n".join(lines)
