"""Real `snapbuy index` processes: killed with SIGKILL mid-run and resumed, and two runs on one index
at once. Images come from a server the test starts on 127.0.0.1, slowed so the runs overlap."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from snapbuy.bundle import CURRENT_FILE, open_current
from snapbuy.indexing.lock import OWNER_FILE
from tests.conftest import TINY_SPEC

pytestmark = pytest.mark.slow

PRODUCTS = 160
DEADLINE = 120.0  # seconds any wait in these tests may take before the test fails


def write_shop(folder: Path, base_url: str) -> Path:
    folder.mkdir(parents=True)
    lines = ["id,title,price,product_type,image_link"]
    for n in range(PRODUCTS):
        Image.new("RGB", (32, 32), (n % 256, (n * 7) % 256, (n * 13) % 256)).save(folder / f"{n}.png")
        lines.append(f"SKU-{n},Product {n},{10 + n}.00 USD,thing,{base_url}{n}.png")
    feed = folder / "feed.csv"
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return feed


def serve_slowly(server: HTTPServer, folder: Path, delay: float) -> None:
    def handle(request: Request) -> Response:
        if "If-None-Match" not in request.headers:
            time.sleep(delay)  # first downloads are slow; revalidations are quick
        data = (folder / request.path.rsplit("/", 1)[-1]).read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(data, content_type="image/png", headers={"ETag": etag})

    server.expect_request(re.compile(r"^/img/.*")).respond_with_handler(handle)


def index_process(feed: Path, root: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SNAPBUY_FETCH_PER_HOST": "1", "HF_HUB_OFFLINE": "1", "SNAPBUY_BATCH_SIZE": "4"}
    command = [sys.executable, "-m", "snapbuy", "index", str(feed), "--index", str(root)]
    return subprocess.Popen(
        [*command, "--model", TINY_SPEC, "--quiet", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def cached_embeddings(root: Path) -> int:
    path = root / ".cache" / "embeddings.sqlite"
    if not path.is_file():
        return 0
    try:
        conn = sqlite3.connect(path, timeout=1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_killed_run_resumes_without_redownloading_or_reembedding(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    serve_slowly(httpserver, tmp_path / "shop", delay=0.02)
    feed = write_shop(tmp_path / "shop", httpserver.url_for("/img/"))
    root = tmp_path / "idx"
    first = index_process(feed, root)
    try:
        wait_until(lambda: cached_embeddings(root) >= 40 or first.poll() is not None, "some embeddings")
        assert first.poll() is None, "the run finished before it could be killed: slow the server down"
        first.send_signal(signal.SIGKILL)
        first.wait(DEADLINE)
    finally:
        first.kill()
    done_before_kill = cached_embeddings(root)
    assert 0 < done_before_kill < PRODUCTS and not (root / CURRENT_FILE).exists()

    second = index_process(feed, root)
    _, err = second.communicate(timeout=DEADLINE * 2)
    assert second.returncode == 0, err

    counts = open_current(root).manifest.counts
    assert counts["products"] == PRODUCTS
    assert counts["images_reused"] >= done_before_kill
    assert counts["images_embedded"] == PRODUCTS - counts["images_reused"]
    # What the killed run had downloaded is revalidated (304, no bytes), not downloaded again.
    assert counts["images_revalidated"] >= done_before_kill
    assert counts["images_downloaded"] + counts["images_revalidated"] == PRODUCTS


def test_two_runs_at_once_queue_or_refuse_and_current_names_a_complete_version(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    # Slow enough (160 downloads one at a time, 16 s) that the later processes start while it runs.
    serve_slowly(httpserver, tmp_path / "shop", delay=0.1)
    feed = write_shop(tmp_path / "shop", httpserver.url_for("/img/"))
    root = tmp_path / "idx"
    first = index_process(feed, root)
    try:
        wait_until(lambda: (root / OWNER_FILE).is_file() or first.poll() is not None, "the first run's lock")
        refused = index_process(feed, root)
        _, refused_err = refused.communicate(timeout=DEADLINE)
        queued = index_process(feed, root, "--wait-for-lock", str(DEADLINE))
        _, queued_err = queued.communicate(timeout=DEADLINE * 3)
        _, first_err = first.communicate(timeout=DEADLINE)
    finally:
        first.kill()
    assert first.returncode == 0, first_err
    assert refused.returncode == 10 and "another `snapbuy index` run" in refused_err
    assert queued.returncode == 0, queued_err
    live = (root / CURRENT_FILE).read_text().strip()
    versions = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(versions) == 2 and live == versions[-1]
    assert open_current(root).manifest.counts["products"] == PRODUCTS
