"""One access-log line per request, with a request id that every log line of the request carries and
that the answer returns (`X-Request-ID`). The line names the route's path, never its query string
(a text search is the shopper's words) and never any body (photos are personal data)."""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from typing import Any

log = logging.getLogger("snapbuy.access")

# The request being served on this task or thread (log formatters read it); "-" outside requests.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("snapbuy_request_id", default="-")
# A client's own id is kept when it looks like one (a proxy's or the app's), else a new one is made.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestLog:
    """ASGI middleware: request id in, X-Request-ID out, one access line when the answer is sent."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status or 499,
                extra={
                    "http_method": scope["method"],
                    "path": scope["path"],
                    "status": status or 499,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": (scope.get("client") or ("-", 0))[0],
                },
            )
            request_id_var.reset(token)
