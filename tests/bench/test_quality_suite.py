from __future__ import annotations

import json
from pathlib import Path

import pytest

from snapbuy.bench.quality_suite import quality_benchmark
from snapbuy.config import Settings


@pytest.mark.slow
def test_the_demo_evaluation_with_machine_and_floors(tmp_path: Path) -> None:
    said: list[str] = []
    settings = Settings(models_dir=tmp_path / "models")
    # Bounded by steps, with a time budget (60 minutes) that never ends first on a busy machine.
    (json_path, md_path), outcome = quality_benchmark(
        settings,
        30,
        60.0,
        tmp_path / "out",
        said.append,
        train_max_steps=10,
        localiser_max_steps=10,
        held_out_photos=12,
    )
    payload = json.loads(json_path.read_text())
    assert payload["suite"] == "quality" and payload["machine"]["cpu_count"]
    assert set(payload["floors"]) <= set(payload["metrics"]) and payload["queries"] == 30
    assert "trains its own model" in payload["model_reason"]
    assert "| group_recall@1 |" in md_path.read_text()
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").iterdir())  # nothing left
    assert any("training the demo model" in line for line in said)
    assert outcome.report.queries == 30
    assert payload["held_out_queries"] == 12 and set(payload["held_out_floors"]) <= set(
        payload["held_out_metrics"]
    )
    assert "| group_recall@1 | " in md_path.read_text() and "held out" in md_path.read_text()
    assert payload["settings"]["train_max_steps"] == 10 and payload["settings"]["localiser_max_steps"] == 10
    assert any("trained 10 steps" in line for line in said)
