"""The exact vectors behind a compressed index, as float16 rows in a flat file read with pread.

Compressed codes (SQ8, PQ) rank candidates; these rows re-rank them exactly. They stay on disk and are
read a few dozen rows per query through the OS page cache: no mmap, so they never count as the
process's own memory, and a 1M-SKU catalog keeps ~0.5 KB per SKU resident instead of 2.5 KB."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

EXACT_ROWS_FILE = "vectors.f16"
ROW_DTYPE = np.dtype("<f2")
WRITE_CHUNK_ROWS = 65_536


def write_exact_rows(path: Path, vectors: np.ndarray) -> None:
    with path.open("wb") as fh:
        for start in range(0, len(vectors), WRITE_CHUNK_ROWS):
            chunk = vectors[start : start + WRITE_CHUNK_ROWS]
            fh.write(np.ascontiguousarray(chunk, dtype=ROW_DTYPE).tobytes())


class ExactRows:
    """float16 rows by vector id, from memory (just built) or from a bundle's file."""

    def __init__(self, dim: int, *, rows: np.ndarray | None = None, path: Path | None = None) -> None:
        self.dim = dim
        self._rows = rows
        self._path = path
        self._fd: int | None = None
        self._row_bytes = dim * ROW_DTYPE.itemsize
        if path is not None:
            self._fd = os.open(path, os.O_RDONLY)
            size = os.fstat(self._fd).st_size
            if size % self._row_bytes:
                os.close(self._fd)
                raise ValueError(f"{path} holds {size} bytes, not a whole number of {dim}-d float16 rows")
            self.ntotal = size // self._row_bytes
            # Ask the OS to start reading the rows into its page cache now (asynchronously), so the
            # first queries after start-up do not each wait on random disk reads.
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(self._fd, 0, size, os.POSIX_FADV_WILLNEED)
        else:
            assert rows is not None
            self.ntotal = len(rows)

    @classmethod
    def in_memory(cls, vectors: np.ndarray) -> ExactRows:
        return cls(vectors.shape[1], rows=np.ascontiguousarray(vectors, dtype=ROW_DTYPE))

    @classmethod
    def open(cls, path: Path, dim: int) -> ExactRows:
        """Rows read from the file per query (through the OS page cache)."""
        return cls(dim, path=path)

    @classmethod
    def load(cls, path: Path, dim: int) -> ExactRows:
        """All rows read into RAM now: no disk read per query, 2 bytes per dimension per vector."""
        on_disk = cls.open(path, dim)
        try:
            return cls(dim, rows=on_disk.range_rows_float16(0, on_disk.ntotal))
        finally:
            on_disk.close()

    def save(self, path: Path) -> None:
        if self._rows is not None:
            write_exact_rows(path, self._rows)
            return
        with path.open("wb") as out:
            for start in range(0, self.ntotal, WRITE_CHUNK_ROWS):
                out.write(self._read(start, min(self.ntotal, start + WRITE_CHUNK_ROWS)).tobytes())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def rows(self, vector_ids: np.ndarray) -> np.ndarray:
        """float32 rows of these ids, in the order given."""
        ids = np.asarray(vector_ids, dtype=np.int64)
        if self._rows is not None:
            return self._rows[ids].astype(np.float32)
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order].tolist()
        # Consecutive ids are read in one call: tier partitions are contiguous runs.
        chunks: list[np.ndarray] = []
        run_start = previous = sorted_ids[0] if sorted_ids else 0
        for vid in sorted_ids[1:]:
            if vid != previous + 1:
                chunks.append(self._read(run_start, previous + 1))
                run_start = vid
            previous = vid
        if sorted_ids:
            chunks.append(self._read(run_start, previous + 1))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        if chunks:
            out[order] = np.concatenate(chunks)
        return out

    def range_rows_float16(self, start: int, end: int) -> np.ndarray:
        if self._rows is not None:
            return self._rows[start:end]
        rows = np.empty((end - start, self.dim), dtype=ROW_DTYPE)
        for lo in range(start, end, WRITE_CHUNK_ROWS):
            hi = min(end, lo + WRITE_CHUNK_ROWS)
            rows[lo - start : hi - start] = self._read(lo, hi)
        return rows

    def range_rows(self, start: int, end: int) -> np.ndarray:
        if self._rows is not None:
            return self._rows[start:end].astype(np.float32)
        return self._read(start, end).astype(np.float32)

    def _read(self, start: int, end: int) -> np.ndarray:
        if self._fd is None:
            raise ValueError("exact rows are closed")
        want = (end - start) * self._row_bytes
        data = os.pread(self._fd, want, start * self._row_bytes)
        if len(data) != want:
            raise OSError(f"short read from {self._path}: {len(data)} of {want} bytes")
        return np.frombuffer(data, dtype=ROW_DTYPE).reshape(end - start, self.dim)
