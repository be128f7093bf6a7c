"""colour_words_effect: asks each held-out photo for another colour of its design and counts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from snapbuy.bundle import open_current
from snapbuy.demo.colour_words import colour_of, colour_words_effect, outcomes_markdown
from snapbuy.demo.generate import write_demo_data
from snapbuy.indexing import IndexingOptions, build_index
from snapbuy.loading import build_service
from snapbuy.store import ProductRecord
from tests.fakes import HashEmbedder


def record(title: str) -> ProductRecord:
    return ProductRecord(0, "S", title, None, "watch", 1.0, "NOK", "budget", "G", None, None)


def test_the_colour_is_the_titles_last_part() -> None:
    assert colour_of(record("Basico Urjuv watch, White")) == "white"
    assert colour_of(record("no colour")) == "no colour"


def test_every_photo_with_another_colour_is_asked_once_per_weight(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    write_demo_data(shop, n_products=30, seed=5, n_queries=24, workers=1)
    build_index(shop / "catalog.csv", tmp_path / "index", HashEmbedder(), IndexingOptions(batch_size=64))
    service = build_service(open_current(tmp_path / "index"), HashEmbedder())
    with (shop / "catalog.csv").open() as fh:
        catalog = list(csv.DictReader(fh))
    with (shop / "queries.csv").open() as fh:
        queries = [q for q in csv.DictReader(fh) if not q["lookalike_of"]]
    colours: dict[str, set[str]] = {}
    for row in catalog:
        colours.setdefault(row["item_group_id"], set()).add(row["title"].rsplit(",", 1)[-1].strip().lower())
    expected = sum(len(colours[q["item_group_id"]]) > 1 for q in queries)
    assert expected > 0

    asked, outcomes = colour_words_effect(service, shop / "queries.csv", weights=(0.0, 1.0))
    service.close()
    assert asked == expected
    assert [o.weight for o in outcomes] == [None, 0.0, 1.0]
    for outcome in outcomes:
        for share in (outcome.colour, outcome.design, outcome.both):
            assert 0 <= share <= 1 and share * asked == pytest.approx(round(share * asked))
        assert outcome.both <= min(outcome.colour, outcome.design)
    # Weight 0 ranks designs by the photo alone, as the photo alone does.
    assert outcomes[1].design == outcomes[0].design
    assert "| photo alone |" in outcomes_markdown(asked, outcomes)
