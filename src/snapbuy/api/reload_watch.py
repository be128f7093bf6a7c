"""What makes a running server look for a new index version: a poll of INDEX/CURRENT every
SNAPBUY_RELOAD_INTERVAL seconds, and SIGHUP (when the app runs in the main thread, as under
`snapbuy serve` or uvicorn). The loading itself runs in a worker thread, never on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from snapbuy.api.live_service import ServiceHolder

log = logging.getLogger(__name__)


class ReloadWatcher:
    def __init__(self, holder: ServiceHolder, interval: float) -> None:
        self._holder = holder
        self._interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._on_sighup = False

    def start(self) -> None:
        """Start polling and listen for SIGHUP; call from the running event loop."""
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="snapbuy-reload-watch")
        sighup = getattr(signal, "SIGHUP", None)
        if sighup is None:
            return
        try:
            loop.add_signal_handler(sighup, self.wake)
            self._on_sighup = True
        except (RuntimeError, ValueError):  # not the main thread (e.g. a test client): polling only
            log.debug("SIGHUP does not reload this app: it does not run in the main thread")

    def wake(self) -> None:
        """Check for a new version now (from the event loop's thread)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._on_sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._on_sighup = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        timeout = self._interval or None  # 0: only SIGHUP wakes it
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            try:
                await asyncio.to_thread(self._holder.reload)
            except Exception:  # keep watching whatever happened
                log.exception("checking for a new index version failed")
