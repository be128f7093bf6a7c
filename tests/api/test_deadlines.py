"""Time limits on clients (api/deadlines.py): stalled bodies get 408, slow headers lose their connection,
and SIGTERM with a stalled client still stops the server, against a real `snapbuy serve` process."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from snapbuy.api.deadlines import BodyDeadline
from tests.serve_process import serve_process

DEADLINE = 60.0  # the longest any wait in these tests may take before the test fails


async def run_asgi(app: Any, chunks: list[bytes], stall: bool) -> list[dict[str, Any]]:
    """Drive an ASGI app with a body of `chunks`, then (with stall) a receive that never returns."""
    sent: list[dict[str, Any]] = []
    pending = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        if stall:
            await asyncio.sleep(3600)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/search", "headers": []}
    await app(scope, receive, send)
    return sent


async def read_all_then_ok(scope: Any, receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_stalled_body_is_answered_408() -> None:
    app = BodyDeadline(read_all_then_ok, idle_seconds=0.2, total_seconds=30)
    sent = asyncio.run(run_asgi(app, [b"part"], stall=True))
    assert sent[0]["status"] == 408
    assert b"no request body data for 0.2 s" in sent[1]["body"]


def test_a_body_that_keeps_coming_too_slowly_meets_the_total_deadline() -> None:
    async def trickle(scope: Any, receive: Any, send: Any) -> None:
        for _ in range(100):  # bounded: 100 chunks at 0.05 s outlast the 0.3 s total
            await asyncio.sleep(0.05)
            await receive()
        await read_all_then_ok(scope, receive, send)

    app = BodyDeadline(trickle, idle_seconds=10, total_seconds=0.3)
    sent = asyncio.run(run_asgi(app, [b"x"] * 200, stall=False))
    assert sent[0]["status"] == 408 and b"longer than 0.3 s" in sent[1]["body"]


def test_a_body_in_time_passes_untouched() -> None:
    app = BodyDeadline(read_all_then_ok, idle_seconds=5, total_seconds=5)
    sent = asyncio.run(run_asgi(app, [b"a", b"b"], stall=False))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"ok"


# --- a real server ----------------------------------------------------------------------------------


@pytest.fixture
def strict_server(sample_index: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    env = {
        "SNAPBUY_HEADER_TIMEOUT": "1",
        "SNAPBUY_BODY_TIMEOUT": "1",
        "SNAPBUY_UPLOAD_DEADLINE": "5",
        "SNAPBUY_SHUTDOWN_TIMEOUT": "2",
    }
    with serve_process(sample_index, env) as (base, proc):
        yield proc, int(base.rsplit(":", 1)[1])


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed the connection (EOF or reset); reads and discards what it sent."""
    sock.settimeout(DEADLINE)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


@pytest.mark.slow
def test_slow_headers_are_cut_and_the_server_keeps_answering(
    strict_server: tuple[subprocess.Popen[bytes], int],
) -> None:
    _, port = strict_server
    stalled = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the end of headers
        stalled.append(sock)
    assert httpx.get(f"http://127.0.0.1:{port}/livez", timeout=5).status_code == 200
    assert all(closed_by_server(sock) for sock in stalled)  # a 60 s wait each at most; the deadline is 1 s
    for sock in stalled:
        sock.close()
    assert httpx.get(f"http://127.0.0.1:{port}/livez", timeout=5).status_code == 200


@pytest.mark.slow
def test_a_stalled_upload_gets_408(strict_server: tuple[subprocess.Popen[bytes], int]) -> None:
    _, port = strict_server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\n\r\n--XX\r\n"
        )
        sock.settimeout(DEADLINE)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer


@pytest.mark.slow
def test_sigterm_with_a_stalled_client_stops_the_server(
    strict_server: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = strict_server
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\n\r\n--XX\r\n"
    )
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(DEADLINE)  # without the deadlines it waited for the client forever
    sock.close()
    assert proc.returncode is not None and time.monotonic() - started < DEADLINE
