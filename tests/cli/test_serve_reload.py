"""`snapbuy serve` swaps in a version `snapbuy index` publishes while it answers searches: SIGHUP makes
it look at once, no request fails, and SIGTERM still stops it cleanly."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from snapbuy.bundle import prune_versions, read_current
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.indexing import IndexingOptions, build_index
from tests.conftest import SAMPLE_CATALOG
from tests.serve_process import serve_process, text_search_load

CLIENTS = 8


@pytest.mark.slow
def test_serve_swaps_a_published_version_under_load(tmp_path: Path, tiny_embedder: OpenClipEmbedder) -> None:
    index = tmp_path / "index"
    options = IndexingOptions(batch_size=8, keep_versions=1)
    build_index(SAMPLE_CATALOG, index, tiny_embedder, options)
    first = read_current(index)
    # Polling off: the swap below can only come from SIGHUP.
    log_path = tmp_path / "server.log"
    with (
        log_path.open("wb") as log,
        serve_process(index, {"SNAPBUY_RELOAD_INTERVAL": "0"}, log) as (base, proc),
    ):
        stop = threading.Event()
        answers: list[dict[str, Any]] = []
        failures: list[str] = []
        clients = [
            threading.Thread(target=text_search_load, args=(base, stop, answers, failures))
            for _ in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        try:
            time.sleep(1.0)
            build_index(SAMPLE_CATALOG, index, tiny_embedder, options)
            second = read_current(index)
            assert first is not None and second is not None and second != first
            assert (index / first).is_dir()  # the server's lease kept it from the run's pruning
            signalled = time.monotonic()
            os.kill(proc.pid, signal.SIGHUP)
            deadline = signalled + 30
            while httpx.get(f"{base}/v1/index", timeout=10).json()["version"] != second:
                assert time.monotonic() < deadline, "the new version was not served within 30 s"
                time.sleep(0.05)
            switch_s = time.monotonic() - signalled
            time.sleep(1.0)  # searches keep going on the new version
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=60)
        versions = Counter(answer["index_version"] for answer in answers)
        searches = sum(versions.values())
        print(f"swap under load: {searches} searches, {len(failures)} failed, {switch_s:.2f} s to switch")
        assert failures == []
        assert versions[first] > 0 and versions[second] > 0
        assert httpx.get(f"{base}/readyz", timeout=10).json()["version"] == second
    # SIGTERM still stops uvicorn gracefully (it re-raises the signal once its shutdown is complete).
    assert proc.returncode in (0, -signal.SIGTERM)
    assert b"Application shutdown complete" in log_path.read_bytes()
    assert prune_versions(index, keep=1) == [first]  # the server let go of it: prunable again
