"""The query suite's parts on the tiny model: the bare forward per backend, photo uploads to a real
`snapbuy serve` at several client counts, and the report that sets them side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snapbuy.bench.api_suite import serve_and_time
from snapbuy.bench.query_suite import ServerFigures, bare_forwards, write_query_results
from tests.conftest import SAMPLE_CATALOG, TINY_SPEC

PHOTOS = sorted((SAMPLE_CATALOG.parent / "images").glob("*.jpg"))[:3]


@pytest.mark.slow
def test_forwards_and_uploads_are_reported_against_the_float32_forward(
    tmp_path: Path, sample_index: Path
) -> None:
    forwards = bare_forwards(TINY_SPEC, Path("models"), tmp_path / "graphs", ["torch", "onnxruntime"], 3)
    assert [f.backend for f in forwards] == ["torch", "onnxruntime"]
    assert all(f.batch1_ms > 0 and f.batch16_images_per_s > 0 for f in forwards)
    levels = serve_and_time(
        sample_index, [p.read_bytes() for p in PHOTOS], {}, (1, 2), 4, query="?k=4", rounds=2
    )
    assert [(lv.concurrency, lv.requests) for lv in levels] == [(1, 8), (2, 8)]  # two rounds of 4
    assert all(lv.errors == 0 and lv.latency_ms["p50"] <= lv.latency_ms["p99"] for lv in levels)
    json_path, md_path = write_query_results(
        tmp_path / "out",
        forwards,
        [ServerFigures("torch", levels)],
        {
            "model": TINY_SPEC,
            "photos": len(PHOTOS),
            "rounds": 2,
            "backends_not_timed": {"torch-fp16": "a CPU emulates float16"},
        },
    )
    payload = json.loads(json_path.read_text())
    assert payload["suite"] == "query" and payload["torch_fp32_batch1_ms"] == forwards[0].batch1_ms
    report = md_path.read_text()
    assert "x torch's float32 batch-1 forward" in report and "| onnxruntime |" in report
    assert "Not timed: torch-fp16, since a CPU emulates float16." in report
    assert "Levels timed in turn in 2 rounds; medians." in report
