"""Atomic file writes: after a crash or a power cut, a file holds either its old content or the whole
new one, never part of it.

The new content goes to a hidden temporary file in the same folder (so the final rename cannot cross
file systems), which is flushed and fsynced, renamed over the target with os.replace, and then the
folder is fsynced so that the rename itself is on disk. The temporary file is created like any other
file the process writes (its mode follows the umask, unlike tempfile.mkstemp's owner-only 0600), so a
server running as another user can read what was written. On any failure it is removed and the
target is left as it was."""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO


def write_file_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Replace `path` (its folder made when missing) with what `write` writes to the binary file it is
    given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def write_text_file_atomically(
    path: Path, write: Callable[[TextIO], object], encoding: str = "utf-8"
) -> None:
    """Replace `path` with what `write` writes to the text file it is given. Line endings are written
    as given (newline=""), as the csv module expects."""

    def through_text(handle: BinaryIO) -> None:
        text = io.TextIOWrapper(handle, encoding=encoding, newline="")
        write(text)
        text.flush()
        text.detach()  # the binary file stays open for the fsync

    write_file_atomically(path, through_text)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    write_file_atomically(path, lambda handle: handle.write(data))


def write_text_atomically(path: Path, text: str, encoding: str = "utf-8") -> None:
    write_bytes_atomically(path, text.encode(encoding))


def fsync_folder(path: Path) -> None:
    """Make the entries of folder `path` (names created, renamed or removed in it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
