"""A folder of downloaded images with their validators (ETag, Last-Modified), for revalidation.

Layout: `folder/ab/abcdef….body` holds the bytes and `folder/ab/abcdef….json` the metadata (url, etag,
last_modified, sha256, size, stored_at), where `abcdef…` is the sha256 of the URL and `ab` its first two
characters. Anything unreadable, missing or inconsistent is a miss, never an error."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snapbuy.atomic import fsync_folder, write_bytes_atomically, write_text_atomically


class CacheEntryMismatch(OSError):
    """The body file no longer matches its metadata (replaced or damaged since the lookup)."""


@dataclass(frozen=True)
class CachedImage:
    url: str
    data_path: Path
    etag: str | None
    last_modified: str | None
    sha256: str
    size: int

    def conditional_headers(self) -> dict[str, str]:
        """If-None-Match / If-Modified-Since for revalidating this entry; empty when it has no validator."""
        headers: dict[str, str] = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class ImageCache:
    """Safe to share between threads and processes: every file is replaced atomically, and a body is
    checked against its metadata's size on lookup and its sha256 on read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder  # made on the first store

    def lookup(self, url: str) -> CachedImage | None:
        body_path, meta_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            entry = _entry_from_metadata(meta, body_path)
            size = body_path.stat().st_size
        except (OSError, ValueError, TypeError, KeyError):
            return None
        if entry.url != url or size != entry.size:
            return None
        return entry

    def read(self, entry: CachedImage) -> bytes:
        """The entry's bytes; OSError (CacheEntryMismatch among them) when they are gone or changed."""
        data = entry.data_path.read_bytes()
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise CacheEntryMismatch(f"cached body {entry.data_path.name} does not match its metadata")
        return data

    def store(self, url: str, data: bytes, etag: str | None, last_modified: str | None) -> None:
        """Replace the entry for `url`. The old metadata is removed (durably) before the body changes and
        the new metadata is written only after the new body is on disk, so a crash at any point leaves
        either a consistent entry or a body without metadata, which is a miss."""
        body_path, meta_path = self._paths(url)
        if meta_path.exists():
            meta_path.unlink(missing_ok=True)
            fsync_folder(meta_path.parent)
        write_bytes_atomically(body_path, data)
        meta = {
            "url": url,
            "etag": etag,
            "last_modified": last_modified,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "stored_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_text_atomically(meta_path, json.dumps(meta, indent=1) + "\n")

    def _paths(self, url: str) -> tuple[Path, Path]:
        name = hashlib.sha256(url.encode("utf-8")).hexdigest()
        shard = self.folder / name[:2]
        return shard / f"{name}.body", shard / f"{name}.json"


def _entry_from_metadata(meta: Any, body_path: Path) -> CachedImage:
    """A CachedImage from parsed metadata; KeyError, TypeError or ValueError when it is malformed."""
    url, etag, last_modified = meta["url"], meta["etag"], meta["last_modified"]
    sha256, size = meta["sha256"], meta["size"]
    if not (
        isinstance(url, str)
        and isinstance(sha256, str)
        and isinstance(size, int)
        and all(value is None or isinstance(value, str) for value in (etag, last_modified))
    ):
        raise TypeError("malformed cache metadata")
    return CachedImage(url, body_path, etag, last_modified, sha256, size)
