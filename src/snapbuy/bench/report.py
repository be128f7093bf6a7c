"""What every benchmark result records beside its figures: the machine and package versions it ran on,
and latency percentiles. The files themselves are written by snapbuy.results."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
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


def p50_p99(values: Sequence[float], digits: int) -> dict[str, float]:
    """Median and 99th percentile (numpy's linear interpolation) of `values`, rounded to `digits`;
    NaN for both when there are none."""
    if not values:
        return {"p50": math.nan, "p99": math.nan}
    return {
        "p50": round(statistics.median(values), digits),
        "p99": round(float(np.percentile(values, 99)), digits),
    }
