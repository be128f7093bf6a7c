"""`snapbuy serve` as a subprocess on a free 127.0.0.1 port, for the slow end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest

from snapbuy.bench.serve_process import free_port

Server = subprocess.Popen[bytes]


@contextmanager
def serve_process(
    index: Path, env: dict[str, str] | None = None, log: BinaryIO | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Yield (base URL, process) once /readyz answers 200 (60 s at most); SIGTERM it afterwards. The
    server's output goes to `log` (a file the caller reads when it likes) or nowhere: never to a pipe
    nobody reads, which stalls a server logging a line per request once it is full."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "snapbuy", "serve", "--index", str(index), "--port", str(port)],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"server exited with code {proc.returncode}"
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


SEARCH_WORDS = ["red mug", "green sneaker", "leather watch", "black backpack"]


def text_search_load(
    base: str, stop: threading.Event, answers: list[dict[str, Any]], failures: list[str], k: int = 2
) -> None:
    """Text searches against `base` until `stop` (at most 60 s and 5,000 searches), keeping every
    answer in `answers` and every failed request in `failures`."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=base, timeout=30) as client:
        for n in range(5000):
            if stop.is_set() or time.monotonic() >= deadline:
                break
            try:
                response = client.get("/v1/search", params={"q": SEARCH_WORDS[n % len(SEARCH_WORDS)], "k": k})
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if response.status_code == 200:
                answers.append(response.json())
            else:
                failures.append(f"{response.status_code}: {response.text[:200]}")
