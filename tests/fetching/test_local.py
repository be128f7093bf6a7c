"""Reading local image files: only regular files, never more than the limit."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from snapbuy.errors import ImageError, ImageTooLargeError
from snapbuy.fetching import read_local_image
from snapbuy.imaging import load_image_file

from .conftest import png_bytes

MB = 1024 * 1024


def test_reads_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "shot.png"
    path.write_bytes(png_bytes())
    assert read_local_image(path, max_bytes=MB) == png_bytes()


def test_refuses_a_fifo_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match=r"photo\.jpg: not a regular file"):
        read_local_image(fifo, max_bytes=MB)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_refuses_a_device() -> None:
    with pytest.raises(ImageError, match="not a regular file"):
        read_local_image(Path("/dev/zero"), max_bytes=MB)


def test_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not a regular file"):
        read_local_image(tmp_path, max_bytes=MB)


def test_refuses_a_socket(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    if len(str(path)) > 100:
        pytest.skip("the temporary folder's path is too long for a Unix socket")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        with pytest.raises(ImageError, match="not a regular file"):
            read_local_image(path, max_bytes=MB)


def test_refuses_a_big_file_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as handle:
        handle.truncate(3 * MB)  # sparse
    with pytest.raises(ImageTooLargeError, match=r"too large: file is 3\.0 MB; the limit is 1\.0 MB"):
        read_local_image(path, max_bytes=MB)


def test_a_file_of_exactly_the_limit_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "edge.bin"
    path.write_bytes(b"x" * 1000)
    assert len(read_local_image(path, max_bytes=1000)) == 1000


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read image file"):
        read_local_image(tmp_path / "gone.png", max_bytes=MB)


def test_load_image_file_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "eval.jpg"
    os.mkfifo(fifo)
    errors: list[BaseException] = []

    def load() -> None:
        try:
            load_image_file(fifo, max_bytes=MB, max_pixels=10_000)
        except BaseException as exc:
            errors.append(exc)

    # On a thread so that a regression (blocking in open) fails the test instead of hanging the run.
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "load_image_file blocked on a FIFO"
    assert len(errors) == 1 and isinstance(errors[0], ImageError)
    assert "not a regular file" in str(errors[0])
