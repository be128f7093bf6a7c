"""several_products_recall on the demo's photos of several products, with a localiser that knows
where they are."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from snapbuy.bundle import open_current
from snapbuy.demo.generate import SEVERAL_FILE, write_demo_data, write_several_products_photos
from snapbuy.demo.several_products import outcomes_markdown, several_products_recall
from snapbuy.indexing import IndexingOptions, build_index
from snapbuy.loading import build_service
from snapbuy.search import FramingSettings
from tests.fakes import HashEmbedder

Box = tuple[int, int, int, int]


class KnowingLocaliser:
    """Finds, in each photo (known by its size), the given boxes with falling scores 0.9, 0.6, 0.3."""

    def __init__(self, boxes_by_size: dict[tuple[int, int], list[Box]]) -> None:
        self.boxes_by_size = boxes_by_size

    def find_all(self, image: Image.Image) -> list[tuple[Box, float]]:
        boxes = self.boxes_by_size.get(image.size, [(0, 0, 10, 10)])
        return list(zip(boxes, (0.9, 0.6, 0.3), strict=False))


def test_products_found_and_answers_follow_the_threshold(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    write_demo_data(shop, n_products=30, seed=4, n_queries=6, workers=1)
    assert write_several_products_photos(shop, n_products=30, seed=4, n_photos=8, workers=1) == 8
    with (shop / SEVERAL_FILE).open() as fh:
        rows = list(csv.DictReader(fh))
    boxes_by_size: dict[tuple[int, int], list[Box]] = {}
    for row in rows:
        size = Image.open(shop / row["image"]).size
        boxes = [tuple(int(v) for v in part.split()) for part in row["product_boxes"].split(";")]
        assert 2 <= len(boxes) == len(row["skus"].split()) <= 3
        boxes_by_size[size] = boxes  # type: ignore[assignment]
    if len(boxes_by_size) < len(rows):
        pytest.fail("two photos of one size: the fake localiser cannot tell them apart")
    build_index(shop / "catalog.csv", tmp_path / "index", HashEmbedder(), IndexingOptions(batch_size=64))
    localiser: Any = KnowingLocaliser(boxes_by_size)
    service = build_service(open_current(tmp_path / "index"), HashEmbedder(), FramingSettings(), localiser)
    photos, products, outcomes = several_products_recall(
        service, shop / SEVERAL_FILE, shop / "queries.csv", thresholds=(0.0, 0.5, 1.0)
    )
    service.close()
    counts = [len(row["skus"].split()) for row in rows]
    assert (photos, products) == (8, sum(counts))
    every, above_half, first_only = outcomes
    assert every.found == 1.0  # every product's own box is answered
    assert every.answers_per_photo == pytest.approx(sum(counts) / 8)
    assert above_half.found == pytest.approx(sum(min(c, 2) for c in counts) / sum(counts))
    assert first_only.found == pytest.approx(8 / sum(counts)) and first_only.answers_per_photo == 1
    assert every.design_at_1 <= every.found
    # On one-product photos this localiser finds one (made-up) box: no extra answers.
    assert every.extra_on_single == 0
    assert "| 0.5 |" in outcomes_markdown(photos, products, True, outcomes)
