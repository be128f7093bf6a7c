"""Many image URLs downloaded concurrently, their results handed to a synchronous caller one by one.

fetch() runs an asyncio event loop with one httpx.AsyncClient on a background thread for the duration
of the iteration. Finished results wait in a queue of bounded size: a download starts only while fewer
than max_in_flight + result_buffer results are started and not yet taken, so a slow consumer throttles
the downloads and memory stays bounded. Closing the iterator early (break, close(), an exception in the
caller's loop) cancels the outstanding downloads and joins the thread before close() returns."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, replace

import httpx

from snapbuy.fetching.cache import ImageCache
from snapbuy.fetching.client import build_client
from snapbuy.fetching.images import ImageResult, fetch_image
from snapbuy.fetching.limits import ConcurrencyLimits
from snapbuy.fetching.policy import Fetched, FetchPolicy, FetchStats

log = logging.getLogger(__name__)

# How long closing the iterator waits for the cancelled downloads to wind up.
_SHUTDOWN_SECONDS = 30.0


class ImageFetcher:
    """Downloads catalog images per a FetchPolicy, through an optional ImageCache."""

    def __init__(self, policy: FetchPolicy, cache: ImageCache | None, *, result_buffer: int = 16) -> None:
        if result_buffer < 1:
            raise ValueError("result_buffer must be at least 1")
        self.policy = policy
        self.cache = cache
        self.result_buffer = result_buffer
        self._stats = FetchStats()
        self._stats_lock = threading.Lock()

    def fetch(self, requests: Iterable[tuple[int, str]]) -> Generator[Fetched, None, None]:
        """One Fetched per (key, url) request, in the order they finish. `requests` is read lazily on the
        background thread, no further ahead than the downloads. An exception from it (or a bug) is
        raised here. For prompt clean-up when stopping early, close the iterator (contextlib.closing)."""
        run = _FetchRun(self.policy, self.cache, requests, self._record, self.result_buffer)
        run.start()
        try:
            while (fetched := run.next_result()) is not None:
                yield fetched
        finally:
            run.stop()

    def stats(self) -> FetchStats:
        """Totals over every fetch() so far, finished downloads only."""
        with self._stats_lock:
            return self._stats

    def _record(self, result: ImageResult) -> None:
        fetched = result.fetched
        with self._stats_lock:
            old = self._stats
            self._stats = replace(
                old,
                requests=old.requests + 1,
                bytes_transferred=old.bytes_transferred + fetched.bytes_transferred,
                revalidated=old.revalidated + (fetched.source == "revalidated"),
                failed=old.failed + (fetched.source == "failed"),
                retries=old.retries + result.retries,
            )


@dataclass(frozen=True)
class _End:
    """The last item of a run's queue; `error` is what stopped the run early, if anything did."""

    error: BaseException | None = None


class _FetchRun:
    """One fetch(): the background thread with its event loop, and the queue the consumer reads."""

    def __init__(
        self,
        policy: FetchPolicy,
        cache: ImageCache | None,
        requests: Iterable[tuple[int, str]],
        record: Callable[[ImageResult], None],
        result_buffer: int,
    ) -> None:
        self._policy = policy
        self._cache = cache
        self._requests = requests
        self._record = record
        # Each started download holds one place until the consumer takes its result, so the queue never
        # holds more than `_places` results, plus the end marker.
        self._places = policy.max_in_flight + result_buffer
        self._results: queue.Queue[Fetched | _End] = queue.Queue(maxsize=self._places + 1)
        self._thread = threading.Thread(target=self._main, name="snapbuy-fetch", daemon=True)
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._free_places: asyncio.Semaphore | None = None

    def start(self) -> None:
        self._thread.start()

    def next_result(self) -> Fetched | None:
        """The next finished result, or None when all are done; raises what stopped the run."""
        item = self._results.get()
        if isinstance(item, _End):
            if item.error is not None:
                raise item.error
            return None
        self._call_in_loop(self._release_place)
        return item

    def stop(self) -> None:
        """Cancel what is still running and wait for the thread to end."""
        self._stopping.set()
        if not self._thread.is_alive():
            return
        self._started.wait(_SHUTDOWN_SECONDS)
        self._call_in_loop(self._cancel)
        self._thread.join(_SHUTDOWN_SECONDS)
        if self._thread.is_alive():
            log.warning("image downloads did not stop within %.0f s of being cancelled", _SHUTDOWN_SECONDS)

    def _call_in_loop(self, callback: Callable[[], None]) -> None:
        if self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop has nothing left to release or cancel
            self._loop.call_soon_threadsafe(callback)

    def _release_place(self) -> None:
        if self._free_places is not None:
            self._free_places.release()

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _main(self) -> None:
        end = _End()
        try:
            asyncio.run(self._download_all())
        except asyncio.CancelledError:
            pass  # stop() cancelled it: the consumer has gone
        except BaseExceptionGroup as group:  # the task group's wrapping of one error is no help here
            end = _End(group.exceptions[0] if len(group.exceptions) == 1 else group)
        except BaseException as exc:
            end = _End(exc)
        finally:
            self._started.set()  # also when the loop failed before setting it
            self._results.put_nowait(end)

    async def _download_all(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._free_places = free_places = asyncio.Semaphore(self._places)
        self._started.set()
        if self._stopping.is_set():
            return
        limits = ConcurrencyLimits(self._policy.per_host, self._policy.max_in_flight)
        async with build_client(self._policy) as client, asyncio.TaskGroup() as tasks:
            for key, url in self._requests:
                await free_places.acquire()
                tasks.create_task(self._download_one(client, limits, key, url))

    async def _download_one(
        self, client: httpx.AsyncClient, limits: ConcurrencyLimits, key: int, url: str
    ) -> None:
        slot = functools.partial(limits.slot, url)
        result = await fetch_image(client, self._cache, self._policy, key, url, slot)
        self._record(result)
        self._results.put_nowait(result.fetched)
