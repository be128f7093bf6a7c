"""read_catalog refuses what is not a regular file, quickly."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from snapbuy.catalog import read_catalog
from snapbuy.errors import CatalogError


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.csv"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(CatalogError, match="not a regular file") as info:
        read_catalog(fifo)
    assert time.monotonic() - started < 5
    assert (info.value.line, info.value.field) == (0, "file")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused() -> None:
    with pytest.raises(CatalogError, match="not a regular file"):
        read_catalog(Path("/dev/zero"))


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not a regular file"):
        read_catalog(tmp_path)
