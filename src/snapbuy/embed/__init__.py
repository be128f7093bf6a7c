"""Embedding backends behind one protocol."""

from snapbuy.embed.base import Embedder, ModelIdentity
from snapbuy.embed.spec import ModelSpec, parse_model_spec

__all__ = ["Embedder", "ModelIdentity", "ModelSpec", "parse_model_spec"]
