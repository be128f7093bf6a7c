"""The Embedder protocol: what search, indexing and the API need from a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    """What makes two models interchangeable for one index: same architecture and same weights."""

    spec: str  # as the user wrote it
    architecture: str  # built-in name, or "config-sha256:<hash>" for a config file
    weights: str  # "random:seed=0", "openclip:<tag>", or "sha256:<file hash>"
    dim: int
    preprocessing: dict[str, Any]
    # Where the image tower ran (embed/backends.py). Not part of what makes two models the same: the
    # float32 backends give the same vectors, and the index records it so that a difference is seen.
    backend: str = "torch"

    @property
    def is_random(self) -> bool:
        return self.weights.startswith("random")

    def same_model(self, other: ModelIdentity) -> bool:
        return (self.architecture, self.weights, self.dim) == (other.architecture, other.weights, other.dim)

    def to_json(self) -> dict[str, Any]:
        """The manifest's "model" block; preprocessing is stored beside it, at the manifest's top level."""
        data = asdict(self)
        del data["preprocessing"]
        return {**data, "random_weights": self.is_random}

    @classmethod
    def from_json(cls, data: dict[str, Any], preprocessing: dict[str, Any]) -> ModelIdentity:
        return cls(
            spec=str(data["spec"]),
            architecture=str(data["architecture"]),
            weights=str(data["weights"]),
            dim=int(data["dim"]),
            preprocessing=dict(preprocessing),
            backend=str(data.get("backend", "torch")),
        )


def input_side(preprocessing: dict[str, Any]) -> int | None:
    """The model's input image side (the longer one, for a non-square input) as its preprocessing
    names it (`image_size`: [h, w] or a number); None when it names none (test doubles, say)."""
    size = preprocessing.get("image_size")
    if isinstance(size, (list, tuple)) and size:
        size = max(size)
    return size if isinstance(size, int) and size > 0 else None


class Embedder(Protocol):
    """Maps images and texts into one L2-normalised float32 space."""

    @property
    def identity(self) -> ModelIdentity: ...

    @property
    def dim(self) -> int: ...

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class SplitEmbedder(Protocol):
    """An embedder whose image preparation (resize, normalise: any thread) and forward pass (one
    batch) can be called apart, so that preparation runs beside the model."""

    def prepare_images(self, images: Sequence[Image.Image]) -> torch.Tensor: ...

    def embed_prepared(self, pixels: torch.Tensor) -> np.ndarray: ...
