from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snapbuy.index.exact_rows import ExactRows, write_exact_rows


@pytest.fixture()
def vectors() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)


def test_file_rows_equal_memory_rows_in_the_order_asked(tmp_path: Path, vectors: np.ndarray) -> None:
    path = tmp_path / "v.f16"
    write_exact_rows(path, vectors)
    on_disk, in_memory = ExactRows.open(path, 16), ExactRows.in_memory(vectors)
    try:
        assert on_disk.ntotal == 300
        ids = np.array([299, 4, 5, 6, 4, 0, 150])  # unsorted, a run, a repeat
        np.testing.assert_array_equal(on_disk.rows(ids), in_memory.rows(ids))
        np.testing.assert_allclose(on_disk.rows(ids), vectors[ids], atol=4e-3)
        np.testing.assert_array_equal(on_disk.range_rows(10, 20), in_memory.range_rows(10, 20))
        assert on_disk.rows(np.array([], dtype=np.int64)).shape == (0, 16)
    finally:
        on_disk.close()


def test_loading_into_memory_equals_reading_from_disk(tmp_path: Path, vectors: np.ndarray) -> None:
    path = tmp_path / "v.f16"
    write_exact_rows(path, vectors)
    on_disk, loaded = ExactRows.open(path, 16), ExactRows.load(path, 16)
    try:
        ids = np.array([3, 200, 4, 299])
        np.testing.assert_array_equal(loaded.rows(ids), on_disk.rows(ids))
        assert loaded.ntotal == 300 and loaded.range_rows_float16(0, 300).dtype == np.float16
    finally:
        on_disk.close()
        loaded.close()  # nothing to release, and no error


def test_save_copies_a_file_backed_store(tmp_path: Path, vectors: np.ndarray) -> None:
    write_exact_rows(tmp_path / "a.f16", vectors)
    rows = ExactRows.open(tmp_path / "a.f16", 16)
    rows.save(tmp_path / "b.f16")
    rows.close()
    assert (tmp_path / "a.f16").read_bytes() == (tmp_path / "b.f16").read_bytes()


def test_a_truncated_file_is_refused(tmp_path: Path, vectors: np.ndarray) -> None:
    path = tmp_path / "v.f16"
    write_exact_rows(path, vectors)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="whole number"):
        ExactRows.open(path, 16)


def test_closed_rows_refuse_reads(tmp_path: Path, vectors: np.ndarray) -> None:
    write_exact_rows(tmp_path / "v.f16", vectors)
    rows = ExactRows.open(tmp_path / "v.f16", 16)
    rows.close()
    with pytest.raises(ValueError, match="closed"):
        rows.rows(np.array([1]))
