from __future__ import annotations

import json
from pathlib import Path

from snapbuy.bench.quality_suite import quality_benchmark
from snapbuy.config import Settings


def test_the_demo_evaluation_with_machine_and_floors(tmp_path: Path) -> None:
    said: list[str] = []
    settings = Settings(models_dir=tmp_path / "models")
    (json_path, md_path), outcome = quality_benchmark(settings, 30, 0.05, tmp_path / "out", said.append)
    payload = json.loads(json_path.read_text())
    assert payload["suite"] == "quality" and payload["machine"]["cpu_count"]
    assert set(payload["floors"]) <= set(payload["metrics"]) and payload["queries"] == 30
    assert "trains its own model" in payload["model_reason"]
    assert "| group_recall@1 |" in md_path.read_text()
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").iterdir())  # nothing left
    assert any("training the demo model" in line for line in said)
    assert outcome.report.queries == 30
