"""The api suite against a real `snapbuy serve` process on loopback, over the sample index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snapbuy.bench.api_suite import LevelFigures, _median_level, api_benchmark
from snapbuy.errors import BundleNotFoundError, SnapbuyError

PHOTOS = sorted((Path(__file__).parents[1] / "data" / "sample-catalog" / "images").glob("*.jpg"))[:3]


@pytest.mark.slow
def test_latency_at_each_concurrency_level(tmp_path: Path, sample_index: Path) -> None:
    (json_path, md_path), levels = api_benchmark(
        sample_index, [p.read_bytes() for p in PHOTOS], tmp_path, concurrency=(1, 3), requests=6
    )
    assert [lv.concurrency for lv in levels] == [1, 3]
    assert all(lv.errors == 0 and lv.requests_per_second > 0 for lv in levels)
    assert all(lv.latency_ms["p50"] <= lv.latency_ms["p99"] for lv in levels)
    assert json.loads(json_path.read_text())["suite"] == "api"
    assert "| 3 |" in md_path.read_text()


def test_a_missing_index_fails_before_a_server_starts(tmp_path: Path) -> None:
    with pytest.raises(BundleNotFoundError, match="no index"):
        api_benchmark(tmp_path / "no-index", [b"x"], tmp_path / "out", concurrency=(1,), requests=1)
    assert not (tmp_path / "out").exists()


def test_a_server_that_dies_is_reported_with_its_output(tmp_path: Path, sample_index: Path) -> None:
    # An invalid setting makes `snapbuy serve` exit at once.
    with pytest.raises(SnapbuyError, match=r"(?is)did not become ready \(exit code [1-9].*max_k"):
        api_benchmark(sample_index, [b"x"], tmp_path / "out", requests=1, env={"SNAPBUY_MAX_K": "0"})


def test_a_level_timed_in_several_rounds_gets_the_median_of_each_figure() -> None:
    rounds = [
        LevelFigures(8, 48, errors, {"p50": p50, "p99": p99}, rate)
        for errors, p50, p99, rate in [
            (0, 900.0, 1300.0, 9.0),
            (1, 800.0, 1000.0, 9.8),
            (0, 850.0, 1900.0, 8.1),
        ]
    ]
    merged = _median_level(rounds)
    assert (merged.concurrency, merged.requests, merged.errors) == (8, 144, 1)
    assert merged.latency_ms == {"p50": 850.0, "p99": 1300.0} and merged.requests_per_second == 9.0
