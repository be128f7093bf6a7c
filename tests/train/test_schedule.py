"""The time-budgeted learning-rate schedule."""

from __future__ import annotations

import pytest

from snapbuy.train.schedule import warmup_cosine


def test_warms_up_linearly_then_decays_to_zero_at_the_end_of_the_budget() -> None:
    assert warmup_cosine(0.0, 2.0, 0.1) == 0.0
    assert warmup_cosine(0.05, 2.0, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(0.1, 2.0, 0.1) == pytest.approx(2.0)
    assert warmup_cosine(0.55, 2.0, 0.1) == pytest.approx(1.0)  # half way through the decay
    assert warmup_cosine(1.0, 2.0, 0.1) == pytest.approx(0.0)
    assert warmup_cosine(1.5, 2.0, 0.1) == pytest.approx(0.0)  # past the budget (the last step)
