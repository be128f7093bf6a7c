"""The benchmark's loopback file server (bench/static_server.py): serves, validates, counts."""

from __future__ import annotations

from pathlib import Path

import httpx

from snapbuy.bench.static_server import static_server


def test_serves_files_answers_if_modified_since_and_counts_body_bytes(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x" * 1000)
    with static_server(tmp_path) as (base, counts), httpx.Client() as client:
        assert base.startswith("http://127.0.0.1:")
        first = client.get(base + "a.bin")
        assert first.status_code == 200 and first.content == b"x" * 1000
        again = client.get(base + "a.bin", headers={"If-Modified-Since": first.headers["Last-Modified"]})
        assert again.status_code == 304
        assert (counts.requests, counts.not_modified, counts.body_bytes) == (2, 1, 1000)
        counts.reset()
        assert client.get(base + "missing").status_code == 404
        assert (counts.requests, counts.body_bytes) == (1, 0)
