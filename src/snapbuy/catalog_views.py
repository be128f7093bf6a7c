"""Catalog views: each catalog image's vector also says how the model sees that product in a photo.

Queries are shopper photos; the catalog is studio shots, and a model maps the two to somewhat different
places. With catalog views on, indexing also shows the model a few synthetic shopper-photo views of
each catalog image (its product cut out, scaled, tilted and mirrored onto a cluttered scene, sometimes
partly covered, its colours shifted: the training views of synth/views.py, which use only the
training families) and stores the normalised sum of the studio shot's embedding and the mean of the
views' embeddings. An image's views depend only on its content and the seed (never on which images
shared its batch), so a vector is the same whichever engine, batch or re-run made it, as the
embedding cache assumes. The index keeps one vector per image, so search is unchanged. On the demo shop
this lifts item-group recall (docs/experiments/2026-11-30-catalog-views.md#on-the-demo-shop);
unmeasured for a pretrained CLIP, hence off by default."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from snapbuy.embed.base import input_side
from snapbuy.errors import InvalidParameterError
from snapbuy.synth.views import (
    BACKGROUND_OVERSAMPLE,
    ViewSynthesizer,
    scene_tensors,
    sprite_side,
    sprite_tensor,
)

# Backgrounds drawn once per indexing run; each view takes a random zoomed, turned window of one, so
# a few dozen give plenty of variety (training draws more only because it sees millions of views).
SCENES = 64


def view_side_of(preprocessing: dict[str, Any]) -> int:
    """The model's input side (embed.base.input_side), which catalog views cannot do without."""
    side = input_side(preprocessing)
    if side is None:
        raise InvalidParameterError(
            "catalog views need the model's input image size, and this model's preprocessing names none"
        )
    return side


class CatalogViewMaker:
    """`views` synthetic shopper-photo views of each catalog image, at the model's input side."""

    def __init__(self, views: int, view_side: int, seed: int = 0) -> None:
        if views < 1:
            raise InvalidParameterError(f"catalog views must be at least 1, got {views}")
        self.views, self.view_side, self.seed = views, view_side, seed
        self._backgrounds: torch.Tensor | None = None  # drawn on first use

    def _scenes(self) -> torch.Tensor:
        if self._backgrounds is None:
            self._backgrounds = scene_tensors(
                SCENES, self.view_side * BACKGROUND_OVERSAMPLE, random.Random(self.seed)
            )
        return self._backgrounds

    def views_of(self, images: Sequence[Image.Image], keys: Sequence[str]) -> list[Image.Image]:
        """`views` RGB views of each image, image by image: for n images, n * views. An image's views
        are drawn from its own random stream, seeded by the maker's seed and the image's `key` (its
        content hash), so they are the same whatever else is in the batch. With one product per
        stream, a view's occluder is the product's own silhouette, turned and shrunk."""
        if len(keys) != len(images):
            raise ValueError(f"expected a key for each of the {len(images)} images, got {len(keys)}")
        if not images:
            return []
        side = sprite_side(self.view_side)
        scenes = self._scenes()
        draw = torch.zeros(self.views, dtype=torch.long)
        views: list[Image.Image] = []
        with torch.no_grad():
            for image, key in zip(images, keys, strict=True):
                sprite = sprite_tensor(image, side).unsqueeze(0)
                pixels = ViewSynthesizer(sprite, scenes, self._seed_of(key), self.view_side)(draw)
                rows = (pixels * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
                views.extend(Image.fromarray(row) for row in rows)
        return views

    def _seed_of(self, key: str) -> int:
        digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") >> 1  # torch seeds are below 2**63


def with_views(studio: np.ndarray, views: np.ndarray, per_image: int) -> np.ndarray:
    """Unit rows: each studio row (unit length) plus the mean of its `per_image` view rows, normalised.
    `views` holds the views image by image, as CatalogViewMaker.views_of returns them."""
    if views.shape[0] != studio.shape[0] * per_image:
        raise ValueError(f"expected {studio.shape[0] * per_image} view vectors, got {views.shape[0]}")
    mean_view = views.reshape(studio.shape[0], per_image, -1).mean(axis=1)
    blended = studio + mean_view
    norms = np.linalg.norm(blended, axis=1, keepdims=True)
    return np.ascontiguousarray((blended / np.maximum(norms, 1e-12)).astype(np.float32))
