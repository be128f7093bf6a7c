"""A real `snapbuy serve` process on a free loopback port, for the suites that measure the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from snapbuy.bench.http_client import wait_ready
from snapbuy.errors import SnapbuyError

SERVER_START_TIMEOUT = 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    index: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start `snapbuy serve --index INDEX`, wait until it is ready, yield its base URL and process, and
    stop it; a server that never becomes ready is an error quoting the end of its output."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as server_log:
        server = subprocess.Popen(  # our own CLI, fixed arguments
            [sys.executable, "-m", "snapbuy", "serve", "--index", str(index), "--port", str(port)],
            stdout=server_log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            if not wait_ready(f"{base}/readyz", SERVER_START_TIMEOUT, alive=lambda: server.poll() is None):
                server_log.seek(0)
                tail = server_log.read().decode(errors="replace")[-2000:]
                raise SnapbuyError(
                    f"the server did not become ready (exit code {server.poll()}, waited at most "
                    f"{SERVER_START_TIMEOUT:.0f} s); its output ends:\n{tail}"
                )
            yield base, server
        finally:
            server.terminate()
            server.wait(timeout=30)
