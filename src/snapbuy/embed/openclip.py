"""open_clip backend: build the model and its preprocessing together from a model spec."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from snapbuy.device import resolve_device
from snapbuy.embed.backends import TORCH, TORCH_DTYPES, check_backend, exported_tower, torch_tower
from snapbuy.embed.base import ModelIdentity
from snapbuy.embed.spec import ModelSpec, parse_model_spec
from snapbuy.embed.weights import (
    file_sha256,
    pretrained_tag_config,
    resolve_checkpoint_file,
    resolve_hf_hub_weights,
    resolve_pretrained_tag,
    training_record,
)
from snapbuy.errors import ModelError, ModelSpecError

log = logging.getLogger(__name__)

RANDOM_SEED = 0
RANDOM_WEIGHTS_WARNING = (
    "RANDOM WEIGHTS: model %s has untrained random weights. Embeddings are only good for tests and "
    "speed benchmarks, not for finding similar products."
)


def config_digest(model_cfg: dict[str, Any]) -> str:
    """SHA-256 of a model config's content, blind to key order and JSON formatting."""
    canonical = json.dumps(model_cfg, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_architecture(spec: ModelSpec) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Return (model config, preprocessing overrides, architecture id)."""
    import open_clip

    if spec.arch_is_config_file:
        path = Path(spec.arch).expanduser()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelSpecError(f"model config file {path} not found") from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelSpecError(f"model config file {path} is not valid JSON: {exc}") from exc
        # Accept both a bare model config and open_clip's {"model_cfg", "preprocess_cfg"} layout.
        model_cfg = dict(data.get("model_cfg", data))
        preprocess = dict(data.get("preprocess_cfg", {}))
        return model_cfg, preprocess, "config-sha256:" + config_digest(model_cfg)
    model_cfg = open_clip.get_model_config(spec.arch)
    if model_cfg is None:
        raise ModelSpecError(
            f"unknown open_clip architecture {spec.arch!r}; use a name from open_clip.list_models() "
            "or a path to a model-config .json"
        )
    return dict(model_cfg), {}, spec.arch


def resolve_weights(
    spec: ModelSpec, models_dir: Path, allow_download: bool
) -> tuple[Path | None, str, dict[str, Any]]:
    """Return (checkpoint path or None for random, weights id, preprocessing from the tag)."""
    if spec.weights is None:
        raise ModelSpecError(
            f"model spec {spec.text!r} names no weights; write ARCH:WEIGHTS with a pretrained tag, "
            "a checkpoint path, hf-hub:org/name, or 'random' (tests and speed benchmarks only)"
        )
    if spec.is_random:
        return None, f"random:seed={RANDOM_SEED}", {}
    if spec.weights_is_hf_hub:
        return resolve_hf_hub_weights(spec, models_dir, allow_download), spec.weights, {}
    if spec.weights_is_file:
        path = resolve_checkpoint_file(spec)
        return path, "sha256:" + file_sha256(path), {}
    if spec.arch_is_config_file:
        raise ModelSpecError(
            f"{spec.weights!r} is neither a checkpoint file nor 'random'; pretrained tags need a "
            "built-in open_clip architecture name"
        )
    # open_clip matches tags case- and dash-insensitively; one spelling keeps model identity stable.
    tag = spec.weights.lower().replace("-", "_")
    tag_cfg = pretrained_tag_config(spec.arch, tag)
    path = resolve_pretrained_tag(replace(spec, weights=tag), models_dir, allow_download)
    return path, f"openclip:{spec.arch}/{tag}", tag_cfg


def build_model(model_cfg: dict[str, Any], checkpoint: Path | None) -> Any:
    import open_clip

    cfg = dict(model_cfg)
    text_cfg = dict(cfg.get("text_cfg", {}))
    vision_cfg = dict(cfg.get("vision_cfg", {}))
    # Never let open_clip fetch tower weights behind our back: weights come only from the spec.
    if "hf_model_name" in text_cfg:
        text_cfg["hf_model_pretrained"] = False
    if "timm_model_name" in vision_cfg:
        vision_cfg["timm_model_pretrained"] = False
    cfg["text_cfg"], cfg["vision_cfg"] = text_cfg, vision_cfg
    custom_text = bool(cfg.pop("custom_text", False)) or "hf_model_name" in text_cfg
    model_class = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
    # Seeded in a forked RNG so 'random' weights are the same in every process (an index built with
    # them stays searchable) without touching the caller's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        model = model_class(**cfg)
    if checkpoint is not None:
        try:
            open_clip.load_checkpoint(model, str(checkpoint), strict=True, weights_only=True)
        except Exception as exc:
            raise ModelError(f"checkpoint {checkpoint} does not load into this architecture: {exc}") from exc
    model.eval()
    return model


def _check_recorded(record: dict[str, Any], key: str, actual: Any, spec: ModelSpec, what: str) -> None:
    """A checkpoint from `snapbuy train` records the config it was trained with; another one (a run
    stopped between writing NAME.json and NAME.pt, a config from another model) would build a model
    that loads but embeds wrongly, or not at all. Checkpoints that record nothing are not checked."""
    recorded = record.get(key)
    if recorded is not None and recorded != actual:
        values = "" if key.endswith("sha256") else f" ({recorded} there, {actual} here)"
        raise ModelError(
            f"model spec {spec.text!r}: the checkpoint {spec.weights} was trained with another {what} "
            f"than this spec gives{values}; use the config written with it (snapbuy train writes "
            "NAME.json next to NAME.pt), or train again"
        )


@dataclass
class LoadedModel:
    """An open_clip model with the preprocessing and tokenizer that belong to it."""

    model: Any
    model_cfg: dict[str, Any]
    architecture: str
    weights: str
    preprocessing: dict[str, Any]  # image_size, mean, std, interpolation, resize_mode
    transform: Any  # PIL image -> normalised tensor, as at inference
    tokenizer: Any


def load_model(spec: ModelSpec, *, models_dir: Path, allow_download: bool = False) -> LoadedModel:
    """One factory for inference and training, so model and preprocessing never drift apart."""
    import open_clip

    model_cfg, preprocess_overrides, arch_id = load_architecture(spec)
    checkpoint, weights_id, tag_cfg = resolve_weights(spec, models_dir, allow_download)
    if tag_cfg.get("quick_gelu"):
        model_cfg["quick_gelu"] = True
    record = training_record(checkpoint) if checkpoint is not None else None
    if record is not None:
        _check_recorded(record, "model_config_sha256", config_digest(model_cfg), spec, "model config")
    model = build_model(model_cfg, checkpoint)
    pre = {**tag_cfg, **preprocess_overrides}
    image_size = model.visual.image_size
    preprocessing: dict[str, Any] = {
        "image_size": list(image_size) if isinstance(image_size, tuple) else [image_size, image_size],
        "mean": list(pre.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        "std": list(pre.get("std", open_clip.OPENAI_DATASET_STD)),
        "interpolation": pre.get("interpolation", "bicubic"),
        "resize_mode": pre.get("resize_mode", "shortest"),
    }
    if record is not None:
        _check_recorded(record, "preprocessing", preprocessing, spec, "preprocessing")
    transform = open_clip.image_transform(
        image_size,
        is_train=False,
        mean=tuple(preprocessing["mean"]),
        std=tuple(preprocessing["std"]),
        resize_mode=preprocessing["resize_mode"],
        interpolation=preprocessing["interpolation"],
    )
    text_cfg = model_cfg.get("text_cfg", {})
    if "hf_tokenizer_name" in text_cfg:
        tokenizer: Any = open_clip.HFTokenizer(
            text_cfg["hf_tokenizer_name"], context_length=model.context_length
        )
    else:
        tokenizer = open_clip.SimpleTokenizer(context_length=model.context_length)
    return LoadedModel(model, model_cfg, arch_id, weights_id, preprocessing, transform, tokenizer)


class OpenClipEmbedder:
    """Embedder backed by an open_clip model, its image tower run by `backend` (embed/backends.py);
    one lock so concurrent requests don't oversubscribe cores."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        models_dir: Path,
        device: str = "cpu",
        allow_download: bool = False,
        backend: str = TORCH,
        graph_cache: Path | None = None,
    ):
        device = resolve_device(device)
        check_backend(backend, device)
        loaded = load_model(spec, models_dir=models_dir, allow_download=allow_download)
        self._model: Any = loaded.model.to(device)
        self._device = torch.device(device)
        self._preprocess: Any = loaded.transform
        self._tokenizer: Any = loaded.tokenizer
        dim = int(loaded.model_cfg["embed_dim"])
        self._identity = ModelIdentity(
            spec.text, loaded.architecture, loaded.weights, dim, loaded.preprocessing, backend
        )
        if backend in TORCH_DTYPES:
            self._image_tower = torch_tower(self._model.visual, self._device, TORCH_DTYPES[backend])
        else:
            height, width = loaded.preprocessing["image_size"]
            model_key = f"{loaded.architecture}|{loaded.weights}|{config_digest(loaded.model_cfg)}"
            self._image_tower = exported_tower(
                backend, self._model.visual, (height, width), model_key, graph_cache
            )
        self._lock = threading.Lock()
        if spec.is_random:
            log.warning(RANDOM_WEIGHTS_WARNING, spec.text)

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    @property
    def dim(self) -> int:
        return self._identity.dim

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_prepared(self.prepare_images(images))

    def prepare_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The model's preprocessing of each image, stacked: float32 [n, 3, H, W]."""
        return torch.stack([self._preprocess(img) for img in images])

    def embed_prepared(self, pixels: torch.Tensor) -> np.ndarray:
        """Unit embeddings of prepared images (prepare_images), in one forward."""
        with self._lock:
            features = self._image_tower(pixels)
        return _unit_rows(features)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self._tokenizer(list(texts)).to(self._device)
        with self._lock, torch.inference_mode():
            features = self._model.encode_text(tokens, normalize=True)
        return _unit_rows(features.float().cpu().numpy())


def _unit_rows(features: np.ndarray) -> np.ndarray:
    rows = np.asarray(features, dtype=np.float32)
    # Normalised here, in float32, whatever the backend and precision the model ran in.
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.ascontiguousarray(rows / np.maximum(norms, 1e-12))


def load_embedder(
    spec_text: str,
    *,
    models_dir: Path,
    device: str = "cpu",
    allow_download: bool = False,
    backend: str = TORCH,
    graph_cache: Path | None = None,
) -> OpenClipEmbedder:
    return OpenClipEmbedder(
        parse_model_spec(spec_text),
        models_dir=models_dir,
        device=device,
        allow_download=allow_download,
        backend=backend,
        graph_cache=graph_cache,
    )
