"""Result files: bench-results/<name>-<timestamp>.json and .md, and the machine and versions they ran on."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

PACKAGES = ("snapbuy", "faiss-cpu", "numpy", "torch", "open_clip_torch")


def machine() -> dict[str, Any]:
    versions: dict[str, str] = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "versions": versions,
    }


def write_results(out_dir: Path, name: str, payload: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write OUT/<name>-<UTC time>.json and .md (never half of one: each goes to a temporary name first)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = (out_dir / f"{name}-{stamp}.json", out_dir / f"{name}-{stamp}.md")
    contents = (json.dumps(payload, indent=2) + "\n", markdown)
    for path, text in zip(paths, contents, strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return paths


def p50_p99(values: Sequence[float], digits: int) -> dict[str, float]:
    """Median and 99th percentile (numpy's linear interpolation) of `values`, rounded to `digits`;
    NaN for both when there are none."""
    if not values:
        return {"p50": math.nan, "p99": math.nan}
    return {
        "p50": round(statistics.median(values), digits),
        "p99": round(float(np.percentile(values, 99)), digits),
    }
