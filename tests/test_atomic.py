"""Atomic file writes: whole new content or the old content, durable, no temporary files left."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path
from typing import BinaryIO, TextIO

import pytest

from snapbuy.atomic import (
    write_bytes_atomically,
    write_file_atomically,
    write_text_atomically,
    write_text_file_atomically,
)


def test_writes_into_a_new_folder_and_leaves_only_the_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "data.bin"
    write_bytes_atomically(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert list(target.parent.iterdir()) == [target]


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "CURRENT"
    target.write_text("old\n", encoding="utf-8")
    write_text_atomically(target, "new ✓\n")
    assert target.read_text(encoding="utf-8") == "new ✓\n"


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")

    def half_then_fail(handle: BinaryIO) -> None:
        handle.write(b"half of the new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_file_atomically(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_an_interrupt_also_removes_the_temporary_file(tmp_path: Path) -> None:
    def interrupted(handle: BinaryIO) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_file_atomically(tmp_path / "out.npy", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_fsyncs_the_file_and_then_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []  # per fsync: was it a folder?
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_bytes_atomically(tmp_path / "f", b"x")
    assert synced == [False, True]


def test_the_file_mode_follows_the_umask(tmp_path: Path) -> None:
    # tempfile.mkstemp would leave an owner-only 0600 file, unreadable by a server running as another user.
    old = os.umask(0o022)
    try:
        write_bytes_atomically(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_text_through_a_callback_keeps_the_line_endings_written(tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"

    def write(handle: TextIO) -> None:
        csv.writer(handle).writerows([["a", "ø"], ["b", "c"]])

    write_text_file_atomically(target, write)
    assert target.read_bytes() == "a,ø\r\nb,c\r\n".encode()
