"""A time budget for one piece of work, checked between its stages.

Work already running in a thread cannot be interrupted from outside, so a search checks its budget at
each stage boundary (after the decode, the localiser, the model) and gives up there: a late search
overruns by at most the stage it was in, and does not go on to spend the rest of its stages."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from snapbuy.errors import DeadlineExceededError


@dataclass(frozen=True)
class Deadline:
    """Expires `seconds` after it is made, on `clock` (time.monotonic unless a test gives another)."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ValueError(f"a deadline needs a positive number of seconds, got {self.seconds}")
        if self.started < 0:
            object.__setattr__(self, "started", self.clock())

    @property
    def remaining(self) -> float:
        """Seconds left; zero or less once expired."""
        return self.started + self.seconds - self.clock()

    def check(self, stage: str) -> None:
        """Raise DeadlineExceededError if the budget is spent; `stage` names what comes next."""
        if self.remaining <= 0:
            elapsed = self.clock() - self.started
            raise DeadlineExceededError(
                f"the search took longer than its {self.seconds:g} s deadline "
                f"({elapsed:.2f} s spent before {stage}); retry, or with a smaller photo"
            )


def check(deadline: Deadline | None, stage: str) -> None:
    """deadline.check(stage), for work that may run without a deadline."""
    if deadline is not None:
        deadline.check(stage)
