"""The time-budgeted learning-rate schedule."""

from __future__ import annotations

import pytest

from snapbuy.train.schedule import budget_progress, warmup_cosine, within_budget


def test_warms_up_linearly_then_decays_to_zero_at_the_end_of_the_budget() -> None:
    assert warmup_cosine(0.0, 2.0, 0.1) == 0.0
    assert warmup_cosine(0.05, 2.0, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(0.1, 2.0, 0.1) == pytest.approx(2.0)
    assert warmup_cosine(0.55, 2.0, 0.1) == pytest.approx(1.0)  # half way through the decay
    assert warmup_cosine(1.0, 2.0, 0.1) == pytest.approx(0.0)
    assert warmup_cosine(1.5, 2.0, 0.1) == pytest.approx(0.0)  # past the budget (the last step)


def test_progress_is_the_further_of_the_time_and_the_step_budget() -> None:
    assert budget_progress(30.0, 60.0, 10, None) == pytest.approx(0.5)  # time alone
    assert budget_progress(30.0, 60.0, 10, 100) == pytest.approx(0.5)  # time further along
    assert budget_progress(6.0, 3600.0, 50, 100) == pytest.approx(0.5)  # steps further along
    assert budget_progress(0.0, 0.0, 0, None) == 1.0  # no time at all: spent


def test_a_training_its_steps_end_does_not_follow_the_clock_for_its_first_steps() -> None:
    # Two runs whose first step took different times must get the same learning rates.
    assert budget_progress(0.004, 3600.0, 0, 100) == budget_progress(0.9, 3600.0, 0, 100) == 0.0
    assert budget_progress(20.0, 3600.0, 1, 100) == pytest.approx(0.01)  # clock under 2 steps' share
    assert budget_progress(180.0, 3600.0, 1, 100) == pytest.approx(0.05)  # clock a step ahead: it counts


def test_another_step_fits_while_both_budgets_allow_it() -> None:
    assert within_budget(59.9, 60.0, 10_000, None)
    assert not within_budget(60.0, 60.0, 0, None)
    assert within_budget(1.0, 3600.0, 99, 100)
    assert not within_budget(1.0, 3600.0, 100, 100)  # the steps end it, with time left
    assert not within_budget(60.0, 60.0, 5, 100)  # the time ends it, with steps left
