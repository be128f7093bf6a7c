"""Deadline: a time budget checked between stages, on a clock the tests drive."""

from __future__ import annotations

import pytest

from snapbuy.deadline import Deadline, check
from snapbuy.errors import DeadlineExceededError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_deadline_counts_down_and_raises_once_spent() -> None:
    clock = Clock()
    deadline = Deadline(2.0, clock=clock)
    assert deadline.remaining == pytest.approx(2.0)
    clock.now += 1.5
    deadline.check("the model")  # time left: no error
    assert deadline.remaining == pytest.approx(0.5)
    clock.now += 0.5
    with pytest.raises(
        DeadlineExceededError, match=r"its 2 s deadline \(2.00 s spent before the model\)"
    ) as err:
        deadline.check("the model")
    assert err.value.http_status == 504
    assert err.value.http_headers() == {"Retry-After": "1"}


def test_no_deadline_never_raises_and_a_spent_one_does() -> None:
    check(None, "anything")
    clock = Clock()
    deadline = Deadline(1.0, clock=clock)
    clock.now += 5
    with pytest.raises(DeadlineExceededError):
        check(deadline, "the catalog search")


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_a_deadline_needs_a_positive_budget(seconds: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Deadline(seconds)
