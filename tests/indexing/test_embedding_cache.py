"""The embedding cache (indexing/embedding_cache.py): keyed by content and model, durable, forgiving."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from snapbuy.embed.base import ModelIdentity
from snapbuy.indexing.embedding_cache import EmbeddingCache, model_key

MODEL = ModelIdentity("ViT-B-32:random", "ViT-B-32", "random:seed=0", 4, {"image_size": 224})


def test_vectors_round_trip_per_model(tmp_path: Path) -> None:
    path = tmp_path / "emb.sqlite"
    vector = np.array([0.5, 0.5, 0.5, 0.5], np.float32)
    cache = EmbeddingCache(path, "model-a", 4)
    cache.put_many([("abc", vector)])
    cache.close()

    again = EmbeddingCache(path, "model-a", 4)
    stored = again.get("abc")
    assert stored is not None
    np.testing.assert_array_equal(stored, vector)
    assert again.get("missing") is None
    again.close()
    other = EmbeddingCache(path, "model-b", 4)
    assert other.get("abc") is None  # another model never sees these vectors
    other.close()


def test_the_key_changes_with_weights_preprocessing_and_views() -> None:
    base = model_key(MODEL, 0, 0)
    assert model_key(MODEL, 0, 5) == base  # the view seed matters only with views on
    retrained = ModelIdentity(MODEL.spec, MODEL.architecture, "sha256:feed", 4, MODEL.preprocessing)
    resized = ModelIdentity(MODEL.spec, MODEL.architecture, MODEL.weights, 4, {"image_size": 256})
    keys = {base, model_key(retrained, 0, 0), model_key(resized, 0, 0), model_key(MODEL, 16, 0)}
    keys.add(model_key(MODEL, 16, 1))
    assert len(keys) == 5


def test_keys_without_views_are_those_earlier_versions_wrote() -> None:
    # Only keys with catalog views changed when views came to be drawn per image: caches of runs
    # without views stay valid across that upgrade.
    fields = {"architecture": MODEL.architecture, "weights": MODEL.weights, "dim": MODEL.dim}
    fields |= {"preprocessing": MODEL.preprocessing, "catalog_views": 0, "view_seed": None}
    written = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    assert model_key(MODEL, 0, 7) == written


def test_a_vector_of_the_wrong_size_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "emb.sqlite"
    cache = EmbeddingCache(path, "m", 4)
    cache.put_many([("abc", np.ones(4, np.float32))])
    cache.close()
    resized = EmbeddingCache(path, "m", 8)
    assert resized.get("abc") is None
    resized.close()


def test_an_unreadable_cache_is_moved_aside_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "emb.sqlite"
    path.write_bytes(b"this is not a sqlite database, just garbage" * 100)
    cache = EmbeddingCache(path, "m", 4)
    cache.put_many([("abc", np.ones(4, np.float32))])
    assert cache.get("abc") is not None
    cache.close()
    assert path.with_name("emb.sqlite.corrupt").is_file()
