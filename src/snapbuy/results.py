"""Result files: OUT/<name>-<UTC time>.json and .md, as the evaluation and the benchmarks write them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snapbuy.atomic import write_text_atomically


def write_results(out_dir: Path, name: str, payload: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write OUT/<name>-<UTC time>.json and .md, each atomically (never half of one)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path, markdown_path = out_dir / f"{name}-{stamp}.json", out_dir / f"{name}-{stamp}.md"
    write_text_atomically(json_path, json.dumps(payload, indent=2) + "\n")
    write_text_atomically(markdown_path, markdown)
    return json_path, markdown_path
