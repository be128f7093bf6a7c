from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from snapbuy.fetching import ImageCache
from snapbuy.fetching.cache import CacheEntryMismatch

URL = "http://127.0.0.1:1/shoe.png"


def entry_files(folder: Path, url: str = URL) -> tuple[Path, Path]:
    name = hashlib.sha256(url.encode()).hexdigest()
    return folder / name[:2] / f"{name}.body", folder / name[:2] / f"{name}.json"


def test_store_lookup_read_and_layout(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache = ImageCache(folder)
    assert cache.lookup(URL) is None
    assert not folder.exists()  # made on the first write only

    cache.store(URL, b"image-bytes", '"v1"', "Wed, 21 Oct 2015 07:28:00 GMT")
    body, meta = entry_files(folder)
    assert body.read_bytes() == b"image-bytes"
    metadata = json.loads(meta.read_text())
    assert metadata["url"] == URL and metadata["size"] == 11 and "stored_at" in metadata
    assert metadata["sha256"] == hashlib.sha256(b"image-bytes").hexdigest()

    entry = cache.lookup(URL)
    assert entry is not None
    assert (entry.etag, entry.last_modified, entry.size) == ('"v1"', "Wed, 21 Oct 2015 07:28:00 GMT", 11)
    assert entry.conditional_headers() == {
        "If-None-Match": '"v1"',
        "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT",
    }
    assert cache.read(entry) == b"image-bytes"
    assert cache.lookup("http://127.0.0.1:1/other.png") is None


def test_store_replaces(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    cache.store(URL, b"old", '"v1"', None)
    cache.store(URL, b"newer", None, None)
    entry = cache.lookup(URL)
    assert entry is not None and entry.etag is None and cache.read(entry) == b"newer"
    assert entry.conditional_headers() == {}
    assert sorted(p.name for p in entry.data_path.parent.iterdir()) == sorted(
        p.name for p in entry_files(tmp_path)
    )  # no temporary files left behind


@pytest.mark.parametrize(
    "damage",
    ["no metadata", "no body", "metadata not json", "metadata wrong types", "body shorter", "other url"],
)
def test_damaged_entries_are_misses(tmp_path: Path, damage: str) -> None:
    cache = ImageCache(tmp_path)
    cache.store(URL, b"image-bytes", '"v1"', None)
    body, meta = entry_files(tmp_path)
    if damage == "no metadata":  # as after a kill between writing the body and its metadata
        meta.unlink()
    elif damage == "no body":
        body.unlink()
    elif damage == "metadata not json":
        meta.write_text("{truncated")
    elif damage == "metadata wrong types":
        meta.write_text(json.dumps({"url": URL, "etag": 3, "last_modified": None, "sha256": "x", "size": 11}))
    elif damage == "body shorter":
        body.write_bytes(b"image")
    else:
        meta.write_text(meta.read_text().replace(URL, "http://elsewhere/x.png"))
    assert cache.lookup(URL) is None


def test_read_refuses_a_body_changed_after_lookup(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    cache.store(URL, b"image-bytes", '"v1"', None)
    entry = cache.lookup(URL)
    assert entry is not None
    entry.data_path.write_bytes(b"IMAGE-BYTES")  # same size, other content
    with pytest.raises(CacheEntryMismatch):
        cache.read(entry)


def test_a_crash_while_storing_leaves_a_miss_not_a_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ImageCache(tmp_path)
    cache.store(URL, b"old-image", '"v1"', None)

    def killed(path: Path, text: str, encoding: str = "utf-8") -> None:
        raise KeyboardInterrupt  # stands in for kill -9 after the new body is written

    monkeypatch.setattr("snapbuy.fetching.cache.write_text_atomically", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.store(URL, b"new-image", '"v2"', None)
    assert entry_files(tmp_path)[0].read_bytes() == b"new-image"
    assert cache.lookup(URL) is None  # old metadata was removed before the body changed
