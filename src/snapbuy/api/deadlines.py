"""Time limits on what clients send, so a slow or stalled client cannot hold a connection forever:
a deadline for the request line and headers (a uvicorn protocol, since that happens before the app
sees the request), and for the body, between chunks and in all (an ASGI middleware)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from snapbuy.api.asgi_errors import send_json_error

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]


class _BodyTooSlow(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BodyDeadline:
    """Each chunk of a request body must arrive within `idle_seconds`, and the whole body within
    `total_seconds`; else the answer is 408 (when no response has started) and the connection closes."""

    def __init__(self, app: Any, idle_seconds: float, total_seconds: float) -> None:
        self.app, self.idle, self.total = app, idle_seconds, total_seconds

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        ends = loop.time() + self.total
        started = False

        async def timed_receive() -> Message:
            wait = min(self.idle, ends - loop.time())
            if wait <= 0:
                raise _BodyTooSlow(f"the request body took longer than {self.total:g} s")
            try:
                async with asyncio.timeout(wait):
                    message: Message = await receive()
                    return message
            except TimeoutError:
                raise _BodyTooSlow(
                    f"no request body data for {self.idle:g} s"
                    if wait == self.idle
                    else f"the request body took longer than {self.total:g} s"
                ) from None

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracking_send)
        except _BodyTooSlow as slow:
            log.info("408 %s %s: %s", scope["method"], scope["path"], slow.reason)
            if not started:
                await send_json_error(send, 408, "request_timeout", slow.reason, {"connection": "close"})


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request line and headers are not all
    in within `header_seconds` of the connection opening (or of the previous response ending): the
    slow-headers attack that the app itself never sees. Subclassed per server by `with_header_deadline`."""

    header_seconds: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def _arm_header_deadline(self) -> None:
        self._awaited_cycle = self.cycle  # a new cycle object means the next request's headers are in
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_seconds, self._headers_too_slow
        )

    def _cancel_header_deadline(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._awaited_cycle:
            self._cancel_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._cancel_header_deadline()
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is self._awaited_cycle and not self.transport.is_closing():
            log.info(
                "closed a connection from %s: no complete request headers in %g s",
                self.client,
                self.header_seconds,
            )
            self.transport.close()


def with_header_deadline(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class to give uvicorn (`http=`), with this header deadline."""
    return type("HeaderDeadlineH11Protocol", (HeaderDeadlineProtocol,), {"header_seconds": seconds})
