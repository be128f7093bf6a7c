"""One indexing run per index at a time: an OS file lock on <index>/.lock, held from reading the
feed to publishing CURRENT and pruning old versions, so two runs can never interleave a publish and
a prune and leave CURRENT naming a deleted version. The lock dies with its process (kill -9 too)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from snapbuy.errors import IndexBusyError

LOCK_FILE = ".lock"
# Who holds the lock, for the message a waiting run prints; informative only, never trusted.
OWNER_FILE = ".lock-owner"


@contextmanager
def index_lock(root: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the index's lock; wait up to `wait_seconds`, then raise IndexBusyError saying who holds it."""
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(root / LOCK_FILE, timeout=max(wait_seconds, 0.0), blocking=True)
    try:
        lock.acquire()
    except Timeout:
        raise IndexBusyError(_busy_message(root, wait_seconds)) from None
    try:
        owner = {"pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
        (root / OWNER_FILE).write_text(json.dumps(owner) + "\n", encoding="utf-8")
        yield
    finally:
        lock.release()


def _busy_message(root: Path, wait_seconds: float) -> str:
    holder = ""
    try:
        owner = json.loads((root / OWNER_FILE).read_text(encoding="utf-8"))
        holder = f" (process {owner['pid']}, since {owner['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    waited = f" after waiting {wait_seconds:g} s" if wait_seconds > 0 else ""
    return (
        f"another `snapbuy index` run is indexing into {root}{holder}{waited}; "
        "wait for it to finish, or pass --wait-for-lock SECONDS to queue behind it"
    )
