"""Find the weights file for a model spec: local checkpoints, models/ cache, opt-in hub download."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from snapbuy.embed.spec import HF_HUB_PREFIX, ModelSpec
from snapbuy.errors import ModelSpecError, WeightsUnavailableError

log = logging.getLogger(__name__)

# open_clip publishes hub weights under these names; safetensors first since it loads without pickle.
HUB_FILENAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
LOCAL_SUFFIXES = (".safetensors", ".bin", ".pt")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def training_record(checkpoint: Path) -> dict[str, Any] | None:
    """What `snapbuy train` recorded in `checkpoint` about how it was made (its "snapbuy_training"
    entry); None for checkpoints that record nothing or that torch cannot read this way (the model
    loader reports unreadable ones)."""
    import torch

    try:
        # mmap: only the small metadata dict is read, not a large model's weights.
        state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return None
    record = state.get("snapbuy_training") if isinstance(state, dict) else None
    return record if isinstance(record, dict) else None


def local_weights_name(arch: str, tag: str) -> str:
    """The flat file name we look for in models/ for a pretrained tag."""
    return f"{arch}_{tag}"


def pretrained_tag_config(arch: str, tag: str) -> dict[str, Any]:
    import open_clip

    cfg: dict[str, Any] = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise ModelSpecError(f"unknown pretrained tag {tag!r} for {arch}; known tags: {known}")
    return cfg


def resolve_checkpoint_file(spec: ModelSpec) -> Path:
    assert spec.weights is not None
    path = Path(spec.weights).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"checkpoint file {path} not found (model spec {spec.text!r}); "
            "train one with `snapbuy train` or copy it there"
        )
    return path


def _hub_download(
    repo_id: str, filenames: tuple[str, ...], models_dir: Path, allow_download: bool
) -> Path | None:
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
    except ImportError:  # pragma: no cover - open_clip depends on it
        return None
    for filename in filenames:
        if not allow_download:
            # Purely local lookup: hf_hub_download(local_files_only=True) still makes a request while
            # building its headers (huggingface_hub's agent registry) unless HF_HUB_OFFLINE was set
            # before it was imported.
            cached = try_to_load_from_cache(repo_id, filename, cache_dir=str(models_dir))
            if isinstance(cached, str):
                return Path(cached)
            log.debug("hub file %s/%s is not cached in %s", repo_id, filename, models_dir)
            continue
        try:
            found = hf_hub_download(repo_id, filename, cache_dir=str(models_dir))
            return Path(found)
        except Exception as exc:  # the hub client raises many types for "not there"
            log.debug("hub file %s/%s unavailable: %s", repo_id, filename, exc)
    return None


def resolve_pretrained_tag(spec: ModelSpec, models_dir: Path, allow_download: bool) -> Path:
    """A flat file models/ARCH_TAG.{safetensors,bin,pt} wins; then the hub cache inside models/."""
    assert spec.weights is not None
    cfg = pretrained_tag_config(spec.arch, spec.weights)
    base = local_weights_name(spec.arch, spec.weights)
    for suffix in LOCAL_SUFFIXES:
        candidate = models_dir / f"{base}{suffix}"
        if candidate.is_file():
            return candidate
    hub = str(cfg.get("hf_hub", "")).rstrip("/")
    if hub:
        # open_clip writes 'org/repo/' (default file name) or 'org/repo/file.bin'.
        parts = hub.split("/")
        repo_id = "/".join(parts[:2])
        filename = "/".join(parts[2:])
        found = _hub_download(repo_id, (filename,) if filename else HUB_FILENAMES, models_dir, allow_download)
        if found is not None:
            return found
        source = f"the Hugging Face Hub repository {repo_id} (file {filename or HUB_FILENAMES[0]})"
    else:
        source = f"the URL in open_clip's pretrained table for {spec.arch}/{spec.weights}"
        if allow_download and cfg.get("url"):
            from open_clip.pretrained import download_pretrained_from_url

            return Path(download_pretrained_from_url(cfg["url"], cache_dir=str(models_dir)))
    raise WeightsUnavailableError(
        f"weights for {spec.text!r} are not in {models_dir}/ and were not downloaded "
        f"({'download failed' if allow_download else 'downloads are off'}). "
        f"Place the checkpoint at {models_dir / (base + '.safetensors')} (or .bin), taken from {source}; "
        "or set SNAPBUY_ALLOW_DOWNLOAD=1 on a machine with network access to cache it in "
        f"{models_dir}/. Random weights are never used in its place."
    )


def resolve_hf_hub_weights(spec: ModelSpec, models_dir: Path, allow_download: bool) -> Path:
    assert spec.weights is not None
    repo_id = spec.weights.removeprefix(HF_HUB_PREFIX)
    found = _hub_download(repo_id, HUB_FILENAMES, models_dir, allow_download)
    if found is None:
        raise WeightsUnavailableError(
            f"weights for {spec.text!r} are not cached in {models_dir}/ "
            f"({'download failed' if allow_download else 'downloads are off'}); set "
            "SNAPBUY_ALLOW_DOWNLOAD=1 on a machine with network access, or use a checkpoint file path"
        )
    return found
