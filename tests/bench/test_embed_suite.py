from __future__ import annotations

import json
from pathlib import Path

from snapbuy.bench.embed_suite import embed_benchmark
from snapbuy.embed.openclip import OpenClipEmbedder

PHOTOS = sorted((Path(__file__).parents[1] / "data" / "sample-catalog" / "images").glob("*.jpg"))[:6]


def test_images_per_second_and_query_cost_side_by_side(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    (json_path, md_path), figures = embed_benchmark(
        tiny_embedder,
        PHOTOS,
        tmp_path,
        batch_sizes=(1, 4),
        crop_scales=(1.0, 0.5),
        reference=tiny_embedder,
        rounds=2,
    )
    assert set(figures.embed_images_per_second) == {1, 4}
    assert all(rate > 0 for rate in figures.embed_images_per_second.values())
    assert figures.decode_images_per_second > 0 and figures.crops_per_photo > 1
    assert figures.query_ms["photo + crop grid"] > 0 and figures.query_ms["photo alone"] > 0
    payload = json.loads(json_path.read_text())
    assert payload["suite"] == "embed" and payload["settings"]["random_weights"] is True
    assert "random weights: a speed figure only" in md_path.read_text()
    report = md_path.read_text()
    assert figures.pipeline_images_per_second and figures.bare_forward_images_per_second
    assert figures.reference_images_per_second and figures.rounds == 2
    assert "Reference script" in report and "medians of 2 rounds" in report
