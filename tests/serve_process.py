"""`snapbuy serve` as a subprocess on a free 127.0.0.1 port, for the slow end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Server = subprocess.Popen[bytes]


@contextmanager
def serve_process(
    index: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Yield (base URL, process) once /readyz answers 200 (60 s at most); SIGTERM it afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "snapbuy", "serve", "--index", str(index), "--port", str(port)],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "server exited"
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("server did not become ready in 60 s")
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
