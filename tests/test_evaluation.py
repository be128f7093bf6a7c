"""Eval numbers on a tiny shop whose answers are known exactly."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from snapbuy.bundle import open_current
from snapbuy.evaluation import evaluate, write_report
from snapbuy.indexing import IndexingOptions, build_index
from snapbuy.loading import build_service
from snapbuy.search import FramingSettings, SearchService
from tests.conftest import SAMPLE_CATALOG
from tests.fakes import HashEmbedder


@pytest.fixture(scope="module")
def tiny_shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchService, Path]:
    """8 products (so every one is within recall depth 10) indexed with exact, tie-free vectors."""
    folder = tmp_path_factory.mktemp("tiny")
    shutil.copytree(SAMPLE_CATALOG.parent / "images", folder / "images")
    lines = SAMPLE_CATALOG.read_text().splitlines()
    (folder / "catalog.csv").write_text("\n".join(lines[:9]) + "\n")
    build_index(folder / "catalog.csv", folder / "index", HashEmbedder(), IndexingOptions())
    service = build_service(open_current(folder / "index"), HashEmbedder(), FramingSettings(crop_scales=()))
    with (folder / "catalog.csv").open(newline="") as fh:
        products = list(csv.DictReader(fh))
    rows = [
        {
            "image": p["image_link"],
            "sku": p["id"],
            "item_group_id": p["item_group_id"],
            "category": p["product_type"],
            "families": "blur" if i % 2 else "clutter blur",
        }
        for i, p in enumerate(products)
    ]
    twin = next(
        p for p in products if p["item_group_id"] == products[0]["item_group_id"] and p is not products[0]
    )
    rows.append({**rows[0], "sku": twin["id"], "families": "clutter"})  # same design, other colour
    rows.append({**rows[1], "category": "sneaker", "families": "clutter"})  # wrong category answer
    rows.append({**rows[2], "image": "images/missing.jpg"})  # unreadable
    with (folder / "queries.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return service, folder / "queries.csv"


def test_metrics_are_exact(tiny_shop: tuple[SearchService, Path]) -> None:
    service, queries = tiny_shop
    report = evaluate(service, queries)
    assert report.queries == 10 and report.failed_images == 1
    m = report.metrics
    assert m["sku_recall@1"] == pytest.approx(9 / 10)  # the colour twin is not the top match
    assert m["sku_recall@10"] == pytest.approx(1.0)
    assert m["group_recall@1"] == pytest.approx(1.0)
    assert m["group_recall@10"] == pytest.approx(1.0)
    assert m["category_accuracy"] == pytest.approx(9 / 10)
    assert m["tier_sanity"] == pytest.approx(9 / 10)  # tiers of the wrong category fail the check


def test_breakdown_by_family(tiny_shop: tuple[SearchService, Path]) -> None:
    service, queries = tiny_shop
    report = evaluate(service, queries)
    assert report.by_family["blur"]["queries"] == 8
    assert report.by_family["clutter"]["queries"] == 6
    assert report.by_family["blur"]["sku_recall@1"] == pytest.approx(1.0)
    assert report.by_family["clutter"]["sku_recall@1"] == pytest.approx(5 / 6)


def test_reports_are_written_as_json_and_markdown(
    tiny_shop: tuple[SearchService, Path], tmp_path: Path
) -> None:
    service, queries = tiny_shop
    json_path, md_path = write_report(evaluate(service, queries, limit=4), tmp_path, "eval")
    data = json.loads(json_path.read_text())
    assert data["queries"] == 4 and data["metrics"]["sku_recall@1"] == 1.0
    assert data["settings"]["model"] == "fake:hash"
    text = md_path.read_text()
    assert "| group_recall@1 | 1.000 |" in text and "| blur |" in text


class CornerLocaliser:
    """Always finds the product in the photo's top-left corner."""

    def find_all(self, image: Image.Image) -> list[tuple[tuple[int, int, int, int], float]]:
        return [((0, 0, 10, 10), 0.9)]


def test_with_a_localiser_the_share_of_products_found_is_reported(
    tiny_shop: tuple[SearchService, Path], tmp_path: Path
) -> None:
    service, queries = tiny_shop
    with queries.open(newline="") as fh:
        rows = list(csv.DictReader(fh))[:4]
    boxes = ["0 0 10 10", "1 1 11 11", "50 50 60 60", ""]  # IoU 1, 0.68, 0, not given
    with (tmp_path / "boxed.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*rows[0], "product_box"])
        writer.writeheader()
        writer.writerows({**row, "product_box": box} for row, box in zip(rows, boxes, strict=True))
    shutil.copytree(queries.parent / "images", tmp_path / "images")
    assert "product_located" not in evaluate(service, tmp_path / "boxed.csv").metrics
    localiser: Any = CornerLocaliser()
    located = build_service(service.bundle, service.embedder, service.encoder.framing, localiser)
    try:
        report = evaluate(located, tmp_path / "boxed.csv")
    finally:
        located.close()
    assert report.metrics["product_located"] == pytest.approx(2 / 3)
    assert report.settings["localiser"] is True
    assert report.settings["catalog_views"] == 0  # the tiny shop was indexed without them


def test_photos_are_decoded_to_the_size_the_server_decodes_uploads_to(
    tiny_shop: tuple[SearchService, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, queries = tiny_shop
    searched: list[tuple[int, int]] = []
    search = service.search_image

    def spy(image: Image.Image, *args: Any, **kwargs: Any) -> Any:
        searched.append(image.size)
        return search(image, *args, **kwargs)

    first = Image.open(queries.parent / "images" / "wat-1-black.jpg").size
    side = max(first) // 2
    monkeypatch.setattr(service.encoder, "photo_side", side)
    monkeypatch.setattr(service, "search_image", spy)
    evaluate(service, queries)
    assert searched and all(side <= max(size) < 2 * side for size in searched)
