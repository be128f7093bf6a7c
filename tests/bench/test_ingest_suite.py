"""The ingest suite (bench/ingest_suite.py) on a small shop with the tiny model: four runs side by side,
and what each must show (re-runs transfer and embed only what changed)."""

from __future__ import annotations

import json
from pathlib import Path

from snapbuy.bench.ingest_suite import change_images, ingest_benchmark, product_image, write_shop
from snapbuy.embed.openclip import OpenClipEmbedder


def test_pictures_are_distinct_and_a_change_redraws_them(tmp_path: Path) -> None:
    assert product_image(1).tobytes() != product_image(2).tobytes()
    assert product_image(1).tobytes() == product_image(1).tobytes()
    rows = write_shop(tmp_path, 10)
    before = {row["image_link"]: (tmp_path / row["image_link"]).read_bytes() for row in rows}
    assert change_images(tmp_path, rows, 0.2) == 2
    changed = [link for link, data in before.items() if (tmp_path / link).read_bytes() != data]
    assert len(changed) == 2


def test_the_four_runs_show_reuse_and_revalidation(tmp_path: Path, tiny_embedder: OpenClipEmbedder) -> None:
    (json_path, md_path), runs = ingest_benchmark(tiny_embedder, 30, tmp_path / "work", tmp_path / "out", 8)

    local, first, unchanged, changed = runs
    assert (local.embedded, local.downloaded) == (30, 0)
    assert (first.embedded, first.downloaded, first.failed) == (30, 30, 0)
    assert first.server_body_bytes == first.bytes_transferred > 0
    assert (unchanged.embedded, unchanged.reused, unchanged.revalidated) == (0, 30, 30)
    assert unchanged.server_body_bytes == unchanged.bytes_transferred == 0
    assert (changed.embedded, changed.downloaded, changed.revalidated) == (1, 1, 29)
    payload = json.loads(json_path.read_text())
    assert payload["settings"]["products"] == 30 and len(payload["runs"]) == 4
    assert "http, unchanged re-run" in md_path.read_text()
