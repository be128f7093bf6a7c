"""Shared bench reporting helpers."""

from __future__ import annotations

import math

import pytest

from snapbuy.bench.report import p50_p99


def test_p50_p99_are_the_median_and_interpolated_99th_percentile_rounded() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert p50_p99(values, 1) == {"p50": 50.5, "p99": 99.0}
    assert p50_p99([1.23456, 2.34567], 3) == {"p50": pytest.approx(1.79), "p99": pytest.approx(2.335)}


def test_no_values_give_nan_not_an_error() -> None:
    figures = p50_p99([], 1)
    assert math.isnan(figures["p50"]) and math.isnan(figures["p99"])
