"""Result files: a JSON and a Markdown file under one timestamped name."""

from __future__ import annotations

import json
import re
from pathlib import Path

from snapbuy.results import write_results


def test_writes_the_json_and_markdown_pair_under_one_timestamped_name(tmp_path: Path) -> None:
    out = tmp_path / "results"
    json_path, markdown_path = write_results(out, "eval", {"recall": 0.5}, "# eval\n")
    assert re.fullmatch(r"eval-\d{8}T\d{6}Z\.json", json_path.name)
    assert markdown_path == json_path.with_suffix(".md")
    assert json.loads(json_path.read_text(encoding="utf-8")) == {"recall": 0.5}
    assert markdown_path.read_text(encoding="utf-8") == "# eval\n"
    assert sorted(out.iterdir()) == sorted([json_path, markdown_path])
