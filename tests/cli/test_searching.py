"""`snapbuy search`: words alone, and words with a photo."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from snapbuy.cli import app
from tests.conftest import SAMPLE_CATALOG, TINY_SPEC

IMAGES = SAMPLE_CATALOG.parent / "images"
runner = CliRunner()


def answer(output: str) -> dict[str, object]:
    body: dict[str, object] = json.loads(output[output.index("{") :])
    return body


def test_words_alone_search_the_text_tower_and_read_prices(sample_index: Path) -> None:
    command = ["search", "--index", str(sample_index), "--model", TINY_SPEC]
    result = runner.invoke(app, [*command, "-q", "watch under 2000", "--json"])
    assert result.exit_code == 0, result.output
    body = answer(result.stdout)
    query = body["query"]
    assert isinstance(query, dict) and query["box"] is None
    assert query["words"] == {
        "text": "watch",
        "text_weight": None,
        "price_phrases": ["under 2000"],
        "min_price": None,
        "max_price": 2000.0,
    }
    matches = body["matches"]
    assert isinstance(matches, list) and matches and all(m["price_paid"] <= 2000 for m in matches)
    table = runner.invoke(app, [*command, "--text", "red mug"])
    assert table.exit_code == 0 and "words: red mug" in table.output and "matches" in table.output


def test_words_with_a_photo_are_weighed_and_reported(sample_index: Path) -> None:
    photo = IMAGES / "wat-2-blue.jpg"
    command = ["search", str(photo), "--index", str(sample_index), "--model", TINY_SPEC, "--json"]
    result = runner.invoke(app, [*command, "-q", "in red", "--text-weight", "0.5"])
    assert result.exit_code == 0, result.output
    query = answer(result.stdout)["query"]
    assert isinstance(query, dict)
    assert query["words"]["text"] == "in red" and query["words"]["text_weight"] == 0.5
    assert query["box_source"] in ("crop grid", "photo")
    groups = answer(result.stdout)["groups"]
    assert isinstance(groups, list) and len(groups) == 1  # the tiny model has no localiser


def test_a_search_needs_a_photo_or_words(sample_index: Path) -> None:
    nothing = runner.invoke(app, ["search", "--index", str(sample_index), "--model", TINY_SPEC])
    assert nothing.exit_code != 0 and "give a photo to search with, or words with --text" in nothing.output
    boxed = runner.invoke(
        app, ["search", "--index", str(sample_index), "--model", TINY_SPEC, "-q", "red", "--box", "0,0,1,1"]
    )
    assert boxed.exit_code != 0 and "give the photo too" in boxed.output
    relative = runner.invoke(
        app, ["search", "--index", str(sample_index), "--model", TINY_SPEC, "-q", "cheaper"]
    )
    assert relative.exit_code != 0 and "needs a photo" in relative.output
    photo = str(IMAGES / "wat-2-blue.jpg")
    weight = runner.invoke(
        app,
        [
            "search",
            photo,
            "--index",
            str(sample_index),
            "--model",
            TINY_SPEC,
            "-q",
            "red",
            "--text-weight",
            "2",
        ],
    )
    assert weight.exit_code == 2 and "--text-weight" in weight.output
