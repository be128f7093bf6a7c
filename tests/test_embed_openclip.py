"""open_clip backend: the tiny test model, checkpoints, and every way a model spec can fail."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from snapbuy.embed.base import ModelIdentity
from snapbuy.embed.openclip import (
    RANDOM_WEIGHTS_WARNING,
    OpenClipEmbedder,
    build_model,
    config_digest,
    load_embedder,
    load_model,
)
from snapbuy.embed.spec import parse_model_spec
from snapbuy.errors import ConfigError, ModelError, ModelSpecError, WeightsUnavailableError
from tests.conftest import TINY_CONFIG, TINY_SPEC
from tests.test_embed_weights import block_network

TEXTS = ["red leather shoe", "silver wrist watch", "a blue mug"]


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    noise = Image.fromarray(rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8), "RGB")
    return [
        Image.new("RGB", (32, 32), (255, 0, 0)),
        Image.new("RGB", (100, 50), (0, 0, 255)),
        noise,
        Image.new("L", (33, 47), 128).convert("RGB"),
    ]


def _assert_unit_rows(x: np.ndarray, rows: int, dim: int) -> None:
    assert x.shape == (rows, dim)
    assert x.dtype == np.float32
    assert np.all(np.isfinite(x))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def _tiny_cfg() -> dict[str, Any]:
    cfg: dict[str, Any] = json.loads(TINY_CONFIG.read_text(encoding="utf-8"))
    return cfg


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    return block_network(monkeypatch)


# --- the tiny random model -------------------------------------------------------------------------


def test_tiny_model_dim_and_unit_rows(tiny_embedder: OpenClipEmbedder) -> None:
    assert tiny_embedder.dim == 32
    images = tiny_embedder.embed_images(_images())
    texts = tiny_embedder.embed_texts(TEXTS)
    _assert_unit_rows(images, 4, 32)
    _assert_unit_rows(texts, 3, 32)
    assert images.flags["C_CONTIGUOUS"]
    # Different inputs give different embeddings (the model is not a constant function).
    assert not np.allclose(images[0], images[1], atol=1e-4)
    assert not np.allclose(texts[0], texts[1], atol=1e-4)


def test_empty_batches(tiny_embedder: OpenClipEmbedder) -> None:
    for empty in (tiny_embedder.embed_images([]), tiny_embedder.embed_texts([])):
        assert empty.shape == (0, 32)
        assert empty.dtype == np.float32


def test_batching_does_not_change_embeddings(tiny_embedder: OpenClipEmbedder) -> None:
    images = _images()
    together = tiny_embedder.embed_images(images)
    one_by_one = np.concatenate([tiny_embedder.embed_images([img]) for img in images])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_random_weights_are_deterministic_and_leave_global_rng_alone(
    tiny_embedder: OpenClipEmbedder,
) -> None:
    torch.manual_seed(1234)
    before = torch.get_rng_state().clone()
    first = load_embedder(TINY_SPEC, models_dir=Path("models"))
    second = load_embedder(TINY_SPEC, models_dir=Path("models"))
    assert torch.equal(torch.get_rng_state(), before)
    images, texts = _images(), TEXTS
    np.testing.assert_array_equal(first.embed_images(images), second.embed_images(images))
    np.testing.assert_array_equal(first.embed_texts(texts), second.embed_texts(texts))
    # ... and equal to the session-wide instance built earlier in this process.
    np.testing.assert_allclose(first.embed_images(images), tiny_embedder.embed_images(images), atol=1e-6)


def test_random_weights_warn_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="snapbuy.embed.openclip"):
        load_embedder(TINY_SPEC, models_dir=Path("models"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("RANDOM WEIGHTS" in r.getMessage() and TINY_SPEC in r.getMessage() for r in warnings)
    assert RANDOM_WEIGHTS_WARNING.startswith("RANDOM WEIGHTS")


def test_tiny_identity(tiny_embedder: OpenClipEmbedder) -> None:
    ident = tiny_embedder.identity
    canonical = json.dumps(_tiny_cfg(), sort_keys=True, separators=(",", ":"))
    assert ident.spec == TINY_SPEC
    assert ident.architecture == "config-sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert ident.weights == "random:seed=0"
    assert ident.is_random
    assert ident.dim == 32
    assert ident.preprocessing["image_size"] == [32, 32]
    assert len(ident.preprocessing["mean"]) == 3 and len(ident.preprocessing["std"]) == 3
    assert ident.to_json()["random_weights"] is True
    assert "preprocessing" not in ident.to_json()
    assert ModelIdentity.from_json(ident.to_json(), ident.preprocessing) == ident


def test_config_identity_ignores_formatting(tmp_path: Path, tiny_embedder: OpenClipEmbedder) -> None:
    # Same model config, other key order and whitespace: the same architecture id.
    cfg = _tiny_cfg()
    reordered = {k: cfg[k] for k in reversed(list(cfg))}
    path = tmp_path / "same.json"
    path.write_text(json.dumps(reordered, indent=4), encoding="utf-8")
    other = load_embedder(f"{path}:random", models_dir=tmp_path)
    assert other.identity.architecture == tiny_embedder.identity.architecture
    assert other.identity.same_model(tiny_embedder.identity)


def test_open_clip_config_layout_with_preprocess_cfg(tmp_path: Path, tiny_embedder: OpenClipEmbedder) -> None:
    path = tmp_path / "layout.json"
    pre = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bilinear"}
    path.write_text(json.dumps({"model_cfg": _tiny_cfg(), "preprocess_cfg": pre}), encoding="utf-8")
    emb = load_embedder(f"{path}:random", models_dir=tmp_path)
    assert emb.dim == 32
    assert emb.identity.architecture == tiny_embedder.identity.architecture
    assert emb.identity.preprocessing["mean"] == [0.5, 0.5, 0.5]
    assert emb.identity.preprocessing["std"] == [0.25, 0.25, 0.25]
    assert emb.identity.preprocessing["interpolation"] == "bilinear"
    # Same weights, different preprocessing: the embeddings of a photo differ.
    img = [_images()[2]]
    assert not np.allclose(emb.embed_images(img), tiny_embedder.embed_images(img), atol=1e-4)


# --- checkpoints -----------------------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path: Path, tiny_embedder: OpenClipEmbedder) -> None:
    # Perturb a copy of the random weights so that loading them is distinguishable from 'random'.
    gen = torch.Generator().manual_seed(99)
    state = {
        k: (v + 0.05 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v.clone())
        for k, v in tiny_embedder._model.state_dict().items()
    }
    ckpt = tmp_path / "m.pt"
    torch.save(state, ckpt)

    loaded = load_embedder(f"{TINY_CONFIG}:{ckpt}", models_dir=tmp_path)
    assert loaded.identity.weights == "sha256:" + hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert not loaded.identity.is_random
    assert loaded.identity.architecture == tiny_embedder.identity.architecture
    assert not loaded.identity.same_model(tiny_embedder.identity)
    loaded_state = loaded._model.state_dict()
    assert set(loaded_state) == set(state)
    for key, value in state.items():
        assert torch.equal(loaded_state[key], value), key

    # The same file loaded twice gives the same embeddings; they differ from the random model's.
    again = load_embedder(f"{TINY_CONFIG}:{ckpt}", models_dir=tmp_path)
    images = _images()
    emb = loaded.embed_images(images)
    _assert_unit_rows(emb, len(images), 32)
    np.testing.assert_array_equal(emb, again.embed_images(images))
    np.testing.assert_array_equal(loaded.embed_texts(TEXTS), again.embed_texts(TEXTS))
    assert not np.allclose(emb, tiny_embedder.embed_images(images), atol=1e-4)


def test_unperturbed_checkpoint_equals_random_model(tmp_path: Path, tiny_embedder: OpenClipEmbedder) -> None:
    ckpt = tmp_path / "m.pt"
    torch.save(build_model(_tiny_cfg(), None).state_dict(), ckpt)
    loaded = load_embedder(f"{TINY_CONFIG}:{ckpt}", models_dir=tmp_path)
    images = _images()
    np.testing.assert_allclose(loaded.embed_images(images), tiny_embedder.embed_images(images), atol=1e-6)
    np.testing.assert_allclose(loaded.embed_texts(TEXTS), tiny_embedder.embed_texts(TEXTS), atol=1e-6)


def test_checkpoint_of_other_architecture_is_refused(tmp_path: Path) -> None:
    cfg16 = {**_tiny_cfg(), "embed_dim": 16}
    (tmp_path / "tiny16.json").write_text(json.dumps(cfg16), encoding="utf-8")
    ckpt = tmp_path / "m16.pt"
    torch.save(build_model(cfg16, None).state_dict(), ckpt)
    with pytest.raises(ModelError) as info:
        load_embedder(f"{TINY_CONFIG}:{ckpt}", models_dir=tmp_path)
    assert type(info.value) is ModelError  # not a spec or availability problem
    assert str(ckpt) in info.value.message
    assert "does not load" in info.value.message
    # The config it was made for loads it fine.
    ok = load_embedder(f"{tmp_path / 'tiny16.json'}:{ckpt}", models_dir=tmp_path)
    assert ok.dim == 16
    _assert_unit_rows(ok.embed_texts(TEXTS), 3, 16)


def _trained_checkpoint(path: Path, model_cfg: dict[str, Any], record: dict[str, Any]) -> Path:
    """A checkpoint laid out as `snapbuy train` writes it, with the given training record."""
    torch.save({"state_dict": build_model(model_cfg, None).state_dict(), "snapbuy_training": record}, path)
    return path


def test_checkpoint_refuses_a_config_it_was_not_trained_with(tmp_path: Path) -> None:
    # quick_gelu changes no weight shape, so without the record this pair would load and embed wrongly.
    gelu_cfg = {**_tiny_cfg(), "quick_gelu": True}
    gelu_config = tmp_path / "quick.json"
    gelu_config.write_text(json.dumps(gelu_cfg), encoding="utf-8")
    ckpt = _trained_checkpoint(tmp_path / "m.pt", gelu_cfg, {"model_config_sha256": config_digest(gelu_cfg)})
    with pytest.raises(ModelError, match="trained with another model config") as info:
        load_embedder(f"{TINY_CONFIG}:{ckpt}", models_dir=tmp_path)
    assert "NAME.json" in info.value.message
    assert load_embedder(f"{gelu_config}:{ckpt}", models_dir=tmp_path).dim == 32


def test_checkpoint_refuses_preprocessing_it_was_not_trained_with(tmp_path: Path) -> None:
    expected = load_model(parse_model_spec(TINY_SPEC), models_dir=tmp_path).preprocessing
    ckpt = _trained_checkpoint(tmp_path / "m.pt", _tiny_cfg(), {"preprocessing": expected})
    assert load_embedder(f"{TINY_CONFIG}:{ckpt}", models_dir=tmp_path).dim == 32
    other = tmp_path / "other.json"
    other.write_text(
        json.dumps({"model_cfg": _tiny_cfg(), "preprocess_cfg": {"mean": [0.5, 0.5, 0.5]}}), encoding="utf-8"
    )
    with pytest.raises(ModelError, match=r"another preprocessing .*0\.5, 0\.5, 0\.5"):
        load_embedder(f"{other}:{ckpt}", models_dir=tmp_path)


def test_missing_checkpoint_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load_embedder(f"{TINY_CONFIG}:{tmp_path / 'nope.pt'}", models_dir=tmp_path)


# --- spec errors -----------------------------------------------------------------------------------


def test_spec_without_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match="names no weights") as info:
        load_embedder("ViT-B-32", models_dir=tmp_path)
    assert "random" in info.value.message  # tells how to ask for random weights explicitly


def test_config_file_without_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match="names no weights"):
        load_embedder(str(TINY_CONFIG), models_dir=tmp_path)


def test_unknown_architecture(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match="unknown open_clip architecture 'NoSuchArch-99'"):
        load_embedder("NoSuchArch-99:random", models_dir=tmp_path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match="not found"):
        load_embedder(f"{tmp_path / 'nope.json'}:random", models_dir=tmp_path)


def test_invalid_config_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelSpecError, match="not valid JSON"):
        load_embedder(f"{bad}:random", models_dir=tmp_path)


def test_pretrained_tag_needs_builtin_architecture(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match="neither a checkpoint file nor 'random'"):
        load_embedder(f"{TINY_CONFIG}:laion2b_s34b_b79k", models_dir=tmp_path)


def test_unknown_pretrained_tag_lists_known_tags(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError) as info:
        load_embedder("ViT-B-32:no_such_tag", models_dir=tmp_path)
    assert "no_such_tag" in info.value.message
    assert "laion2b_s34b_b79k" in info.value.message
    assert "openai" in info.value.message


def test_missing_pretrained_weights_fail_fast_and_name_the_file(
    tmp_path: Path, no_network: list[Any]
) -> None:
    with pytest.raises(WeightsUnavailableError) as info:
        load_embedder("ViT-B-32:laion2b_s34b_b79k", models_dir=tmp_path, allow_download=False)
    assert str(tmp_path / "ViT-B-32_laion2b_s34b_b79k.safetensors") in info.value.message
    assert no_network == []  # fast because it never waits on the network: no host looked up


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_without_gpu_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        load_embedder(TINY_SPEC, models_dir=Path("models"), device="cuda")


# --- the real architecture -------------------------------------------------------------------------


@pytest.mark.slow
def test_vit_b_32_random(tmp_path: Path) -> None:
    emb = load_embedder("ViT-B-32:random", models_dir=tmp_path)
    assert emb.dim == 512
    assert emb.identity.architecture == "ViT-B-32"
    assert emb.identity.weights == "random:seed=0"
    assert emb.identity.preprocessing["image_size"] == [224, 224]
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8), "RGB"),
        Image.new("RGB", (224, 224), (10, 200, 30)),
    ]
    vectors = emb.embed_images(images)
    _assert_unit_rows(vectors, 2, 512)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-4)
