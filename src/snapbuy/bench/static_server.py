"""A static file server on 127.0.0.1 for benchmarks: Python's own http.server (Last-Modified and
If-Modified-Since included), counting the body bytes it sends, on a background thread."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class ServedCounts:
    requests: int = 0
    not_modified: int = 0
    body_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.requests = self.not_modified = self.body_bytes = 0


class _CountingHandler(SimpleHTTPRequestHandler):
    counts: ServedCounts  # set per server by `static_server`

    def send_response(self, code: int, message: str | None = None) -> None:
        with self.counts.lock:
            self.counts.requests += 1
            self.counts.not_modified += code == 304
        super().send_response(code, message)

    def copyfile(self, source: Any, outputfile: Any) -> None:
        before = source.tell()
        shutil.copyfileobj(source, outputfile)
        with self.counts.lock:
            self.counts.body_bytes += source.tell() - before

    def log_message(self, format: str, *args: Any) -> None:
        return None  # a benchmark's thousands of requests are not worth a line each


@contextmanager
def static_server(folder: Path) -> Iterator[tuple[str, ServedCounts]]:
    """Serve `folder` at http://127.0.0.1:PORT/ (a free port); yields the base URL and the counts."""
    counts = ServedCounts()
    handler = type("Handler", (_CountingHandler,), {"counts": counts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="static-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", counts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
