"""A bound on concurrent photo searches, with a bounded wait queue.

Each photo search holds a decoded image and the model's activations, so running many at once costs
memory and makes every one of them slower; a few run, a few more wait, and the rest are told to come
back (503 with Retry-After) instead of piling up until the server runs out of memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from snapbuy.deadline import Deadline
from snapbuy.errors import OverloadedError


class SearchLimiter:
    """At most `max_running` holders at once and `max_waiting` waiting for a turn; one more is refused
    with OverloadedError at once. Used from one event loop (the server's)."""

    def __init__(self, max_running: int, max_waiting: int) -> None:
        if max_running < 1 or max_waiting < 0:
            raise ValueError("max_running must be at least 1 and max_waiting at least 0")
        self.max_running = max_running
        self.max_waiting = max_waiting
        self._semaphore: asyncio.Semaphore | None = None  # made on first use, inside the event loop
        self.running = 0
        self.waiting = 0

    @asynccontextmanager
    async def slot(self, deadline: Deadline | None = None) -> AsyncIterator[None]:
        """Hold one turn; with a `deadline`, wait for it only until the deadline (then
        DeadlineExceededError)."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_running)
        if self.running + self.waiting >= self.max_running + self.max_waiting:
            raise OverloadedError(
                f"the server is busy: {self.running} searches running and {self.waiting} waiting; "
                "retry shortly"
            )
        self.waiting += 1
        try:
            if deadline is None:
                await self._semaphore.acquire()
            else:
                await self._acquire_before(deadline)
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._semaphore.release()

    async def _acquire_before(self, deadline: Deadline) -> None:
        assert self._semaphore is not None
        try:
            await asyncio.wait_for(self._semaphore.acquire(), timeout=max(deadline.remaining, 0.0))
        except TimeoutError:
            deadline.check("its turn")  # spent: raises DeadlineExceededError
            raise
