"""Test doubles shared across test modules."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from snapbuy import indexing
from snapbuy.catalog import Catalog, Product, read_catalog
from snapbuy.embed.base import Embedder, ModelIdentity

DIM = 16


class HashEmbedder:
    """Deterministic, well-separated vectors from image pixels: no near-ties, so rankings are exact."""

    identity = ModelIdentity("fake:hash", "fake", "hash", DIM, {})
    dim = DIM

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        for image in images:
            seed = int.from_bytes(hashlib.sha256(image.tobytes()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(DIM)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_images([Image.new("RGB", (4, 4), (len(t) % 256, 0, 0)) for t in texts])


def build_index_with(
    catalog: Path,
    root: Path,
    embedder: Embedder,
    options: indexing.IndexingOptions,
    change: Callable[[Product], Product],
) -> None:
    """build_index, with `change` applied to every product the feed gives: sets fields (stock, sales)
    that a test needs whatever the feed reader makes of its columns."""

    def read_changed(path: Path, *, skip_invalid: bool = False) -> Catalog:
        read = read_catalog(path, skip_invalid=skip_invalid)
        return replace(read, products=tuple(change(product) for product in read.products))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(indexing, "read_catalog", read_changed)
        indexing.build_index(catalog, root, embedder, options)
