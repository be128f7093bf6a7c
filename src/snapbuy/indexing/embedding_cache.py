"""Embeddings kept between runs, keyed by the image's content hash and the model (with the catalog
views setting), so a re-run embeds only new or changed images and a killed run resumes where it
stopped: every finished batch is committed before the next one starts."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from snapbuy.embed.base import ModelIdentity

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    content_sha256 TEXT NOT NULL,
    model_key TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (content_sha256, model_key)
) WITHOUT ROWID;
"""


def model_key(identity: ModelIdentity, catalog_views: int, view_seed: int) -> str:
    """Two runs may share embeddings only when this matches: same weights, input handling and views."""
    described = {
        "architecture": identity.architecture,
        "weights": identity.weights,
        "dim": identity.dim,
        "preprocessing": identity.preprocessing,
        "catalog_views": catalog_views,
        "view_seed": view_seed if catalog_views else None,
    }
    if catalog_views:
        # Views are drawn per image (catalog_views.py): vectors cached when a batch's views shared one
        # random stream are not these. (Absent without views, so those keys did not change.)
        described["view_draw"] = "per-image"
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """A SQLite table of float32 vectors. Safe against kill -9 (WAL journal, one commit per batch);
    an unreadable cache file is moved aside and started afresh, never a failed run."""

    def __init__(self, path: Path, key: str, dim: int) -> None:
        self.path, self.key, self.dim = path, key, dim
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open(path)
        except sqlite3.DatabaseError as exc:
            aside = path.with_name(path.name + ".corrupt")
            log.warning(
                "embedding cache %s is unreadable (%s); moved to %s, starting afresh", path, exc, aside
            )
            path.replace(aside)
            self._conn = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL with WAL survives a killed process (not a power cut, which costs only cache entries).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            conn.execute("SELECT COUNT(*) FROM embeddings LIMIT 1").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def get(self, content_sha256: str) -> np.ndarray | None:
        row = self._conn.execute(
            "SELECT vector FROM embeddings WHERE content_sha256 = ? AND model_key = ?",
            (content_sha256, self.key),
        ).fetchone()
        if row is None or len(row[0]) != self.dim * 4:
            return None
        vector: np.ndarray = np.frombuffer(row[0], dtype=np.float32).copy()
        return vector

    def digests(self) -> Iterator[str]:
        """Every content hash holding a usable vector for this model, read lazily: the Ray engine
        sends them to its read stage so that cached images are never decoded or embedded there."""
        rows = self._conn.execute(
            "SELECT content_sha256 FROM embeddings WHERE model_key = ? AND length(vector) = ?",
            (self.key, self.dim * 4),
        )
        for (digest,) in rows:
            yield str(digest)

    def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        """Store a batch in one transaction."""
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                [(sha, self.key, np.asarray(v, np.float32).tobytes()) for sha, v in items],
            )

    def close(self) -> None:
        self._conn.close()
