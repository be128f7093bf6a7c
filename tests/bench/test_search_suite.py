from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snapbuy.bench.search_answers import answer_of
from snapbuy.bench.search_report import floor_lines
from snapbuy.bench.search_suite import (
    SearchBenchSettings,
    run_search_suite,
    search_benchmark,
    stratified_queries,
)
from snapbuy.bench.synthetic_bundle import VectorsOnlyEmbedder, bench_model, write_synthetic_bundle
from snapbuy.bench.vectors import synthetic_catalog
from snapbuy.index import choose_index
from snapbuy.loading import build_service
from snapbuy.search import FramingSettings, SearchOptions


def test_flat_is_exact_and_every_type_is_measured_against_it(tmp_path: Path) -> None:
    catalog = synthetic_catalog(4000, dim=64, seed=2)
    queries, rows = stratified_queries(catalog, 30, seed=1)
    contenders = {name: choose_index(name, catalog.size, 64) for name in ("flat", "ivf", "hnsw")}
    flat, ivf, hnsw = run_search_suite(catalog, queries, rows, contenders, tmp_path, repeats=2, sweep=(0.5,))
    assert flat.recall["matches"] == 1.0 and flat.recall["worst_list_mean"] == 1.0
    assert flat.recall["category_agreement"] == 1.0 and flat.speedup_vs_flat == 1.0
    assert {"tier_budget", "tier_mid", "tier_premium"} <= set(flat.recall)
    for figures in (ivf, hnsw):
        assert 0.5 < figures.recall["matches"] <= 1 and 0.5 < figures.recall["worst_list_mean"] <= 1
        assert figures.latency_ms["p50"] <= figures.latency_ms["p99"]
        assert len(figures.sweep) == 1 and figures.sweep[0]["p50_ms"] > 0
    assert flat.sweep == []
    assert flat.ram_bytes_per_sku > 0 and flat.disk_bytes_per_sku > 64 * 4
    assert ivf.disk_bytes_per_sku < flat.disk_bytes_per_sku  # codes + float16 rows < float32 rows


def test_the_reference_must_be_flat(tmp_path: Path) -> None:
    catalog = synthetic_catalog(600, dim=16, seed=2)
    queries, rows = stratified_queries(catalog, 5, seed=1)
    with pytest.raises(ValueError, match="flat"):
        run_search_suite(catalog, queries, rows, {"ivf": choose_index("ivf", 600, 16)}, tmp_path)


def test_answers_come_from_the_product_search_path(tmp_path: Path) -> None:
    catalog = synthetic_catalog(3000, dim=32, seed=4)
    built = write_synthetic_bundle(catalog, tmp_path / "flat", choose_index("flat", 3000, 32), seed=0)
    service = build_service(
        built.bundle, VectorsOnlyEmbedder(bench_model(32, 0)), FramingSettings(crop_scales=())
    )
    try:
        row = catalog.ranges()[(5, 1)][0]
        answer = answer_of(service, catalog.vectors[row], SearchOptions(k=10))
        assert answer.category == "category-05" and answer.matches[0] == f"SKU{row:08d}"
        for (start, end), (name, skus) in zip(
            [catalog.ranges()[(5, t)] for t in range(3)], answer.tiers.items(), strict=True
        ):
            # The product default: each design (colour variants) once, by its best-scoring SKU.
            order = np.argsort(-(catalog.vectors[start:end] @ catalog.vectors[row])) + start
            _, first = np.unique(catalog.design[order], return_index=True)
            expected = order[np.sort(first)][:10]
            assert set(skus) == {f"SKU{r:08d}" for r in expected}, name
    finally:
        service.close()


@pytest.mark.slow
def test_benchmark_writes_json_markdown_and_plots(tmp_path: Path) -> None:
    settings = SearchBenchSettings(
        size=3000,
        queries=12,
        workdir=tmp_path / "work",
        out_dir=tmp_path / "out",
        repeats=1,
        index_types=("ivf",),
    )
    (json_path, md_path), _results, plots = search_benchmark(settings)
    payload = json.loads(json_path.read_text())
    assert payload["suite"] == "search" and payload["settings"]["size"] == 3000
    assert [r["name"] for r in payload["indexes"]] == ["flat", "ivf"]
    assert payload["machine"]["versions"]["faiss-cpu"]
    text = md_path.read_text()
    assert "| flat | `Flat` |" in text and "| ivf | `IVF" in text
    assert [p.suffix for p in plots] == [".png", ".png"] and all(p.stat().st_size > 1000 for p in plots)


def test_floor_lines_say_met_or_missed(tmp_path: Path) -> None:
    catalog = synthetic_catalog(600, dim=16, seed=2)
    queries, rows = stratified_queries(catalog, 5, seed=1)
    (flat,) = run_search_suite(catalog, queries, rows, {"flat": choose_index("flat", 600, 16)}, tmp_path)
    lines = floor_lines(flat)
    assert any(line.startswith("- met: matches recall") for line in lines)
    assert any(line.startswith("- MISSED: >= 20x") for line in lines)  # flat is 1x itself
