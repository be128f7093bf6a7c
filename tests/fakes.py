"""Test doubles shared across test modules."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

from snapbuy.embed.base import ModelIdentity

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
