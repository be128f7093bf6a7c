"""Fixtures for the fetching tests: threaded local HTTP servers on 127.0.0.1 (never the internet),
small image bytes and a policy with short waits."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator

import pytest
from PIL import Image
from pytest_httpserver import HTTPServer

from snapbuy.fetching import FetchPolicy


@contextlib.contextmanager
def running_server() -> Iterator[HTTPServer]:
    # Threaded: the concurrency, slow-response and early-close tests need requests handled in parallel.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@pytest.fixture(scope="session")
def make_httpserver() -> Iterator[HTTPServer]:
    """Replaces pytest-httpserver's server (one thread, on "localhost") for these tests."""
    with running_server() as server:
        yield server


@pytest.fixture
def second_server() -> Iterator[HTTPServer]:
    """Another server on another port: another host for the per-host limit."""
    with running_server() as server:
        yield server


@pytest.fixture
def release_stalled() -> Iterator[threading.Event]:
    """Set at the end of a test so that handlers waiting on it (stalled responses) finish at once."""
    event = threading.Event()
    yield event
    event.set()


def png_bytes(width: int = 8, height: int = 6, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def png() -> bytes:
    return png_bytes()


@pytest.fixture
def policy() -> FetchPolicy:
    """Defaults but for short timeouts and backoff, so failing cases stay quick."""
    return FetchPolicy(connect_timeout=2.0, read_timeout=2.0, backoff_seconds=0.01)
