"""Finding weights files: flat files in models/, the hub cache inside models/, never the network in tests."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any

import pytest
import torch

from snapbuy.embed.spec import parse_model_spec
from snapbuy.embed.weights import (
    file_sha256,
    local_weights_name,
    pretrained_tag_config,
    resolve_checkpoint_file,
    resolve_hf_hub_weights,
    resolve_pretrained_tag,
    training_record,
)
from snapbuy.errors import ModelSpecError, WeightsUnavailableError

DEFAULT = "ViT-B-32:laion2b_s34b_b79k"
FLAT_NAME = "ViT-B-32_laion2b_s34b_b79k"
HUB_REPO_DIR = "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"  # huggingface_hub's cache layout


def block_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record (and refuse) any attempt to resolve a host name or open a connection.

    Also undo HF_HUB_OFFLINE inside huggingface_hub, as on a user's machine: "downloads are off" must come
    from snapbuy itself, not from the test environment (the hub client reads the variable at import)."""
    import huggingface_hub.constants
    from huggingface_hub.utils import _detect_agent

    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False, raising=False)
    monkeypatch.setattr(_detect_agent, "_registry", None, raising=False)  # its once-per-process fetch
    return attempts


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    return block_network(monkeypatch)


def _fake_hub_cache(models_dir: Path, filename: str = "open_clip_model.safetensors") -> Path:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = models_dir / HUB_REPO_DIR
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    target = snapshot / filename
    target.write_bytes(b"not really weights")
    return target


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # > 1 MiB so several blocks are hashed
    path = tmp_path / "w.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_training_record_is_read_from_a_trained_checkpoint(tmp_path: Path) -> None:
    checkpoint = tmp_path / "m.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}, "snapbuy_training": {"steps": 7}}, checkpoint)
    assert training_record(checkpoint) == {"steps": 7}
    # A bare state dict records nothing; a file torch cannot read is left to the model loader.
    torch.save({"w": torch.zeros(3)}, checkpoint)
    assert training_record(checkpoint) is None
    checkpoint.write_bytes(b"not a checkpoint")
    assert training_record(checkpoint) is None


def test_local_weights_name() -> None:
    assert local_weights_name("ViT-B-32", "laion2b_s34b_b79k") == FLAT_NAME


@pytest.mark.parametrize("suffix", [".safetensors", ".bin", ".pt"])
def test_flat_file_in_models_dir_is_found(tmp_path: Path, suffix: str, no_network: list[Any]) -> None:
    placed = tmp_path / f"{FLAT_NAME}{suffix}"
    placed.write_bytes(b"dummy")
    found = resolve_pretrained_tag(parse_model_spec(DEFAULT), tmp_path, allow_download=False)
    assert found == placed
    assert no_network == []


def test_safetensors_wins_over_other_suffixes(tmp_path: Path) -> None:
    for suffix in (".pt", ".bin", ".safetensors"):
        (tmp_path / f"{FLAT_NAME}{suffix}").write_bytes(b"dummy")
    found = resolve_pretrained_tag(parse_model_spec(DEFAULT), tmp_path, allow_download=False)
    assert found == tmp_path / f"{FLAT_NAME}.safetensors"


def test_flat_file_of_another_tag_is_not_used(tmp_path: Path, no_network: list[Any]) -> None:
    (tmp_path / "ViT-B-32_openai.safetensors").write_bytes(b"dummy")
    with pytest.raises(WeightsUnavailableError):
        resolve_pretrained_tag(parse_model_spec(DEFAULT), tmp_path, allow_download=False)


def test_hub_cache_inside_models_dir_is_found_offline(tmp_path: Path, no_network: list[Any]) -> None:
    cached = _fake_hub_cache(tmp_path)
    found = resolve_pretrained_tag(parse_model_spec(DEFAULT), tmp_path, allow_download=False)
    assert found.resolve() == cached.resolve()
    assert no_network == []


def test_missing_weights_name_the_file_to_place(tmp_path: Path, no_network: list[Any]) -> None:
    with pytest.raises(WeightsUnavailableError) as info:
        resolve_pretrained_tag(parse_model_spec(DEFAULT), tmp_path, allow_download=False)
    message = info.value.message
    assert str(tmp_path / f"{FLAT_NAME}.safetensors") in message
    assert "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in message  # where to get it
    assert "SNAPBUY_ALLOW_DOWNLOAD" in message
    assert "downloads are off" in message
    assert "never" in message.lower() and "random" in message.lower()
    assert no_network == []


def test_unknown_tag_lists_known_tags() -> None:
    with pytest.raises(ModelSpecError) as info:
        pretrained_tag_config("ViT-B-32", "no_such_tag")
    message = info.value.message
    assert "no_such_tag" in message
    assert "laion2b_s34b_b79k" in message
    assert "openai" in message


def test_unknown_tag_is_refused_before_looking_for_files(tmp_path: Path) -> None:
    (tmp_path / "ViT-B-32_no_such_tag.safetensors").write_bytes(b"dummy")
    with pytest.raises(ModelSpecError, match="unknown pretrained tag"):
        resolve_pretrained_tag(parse_model_spec("ViT-B-32:no_such_tag"), tmp_path, allow_download=False)


def test_known_tag_config_has_preprocessing() -> None:
    cfg = pretrained_tag_config("ViT-B-32", "laion2b_s34b_b79k")
    assert len(cfg["mean"]) == 3 and len(cfg["std"]) == 3
    assert "hf_hub" in cfg


def test_checkpoint_file_found(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    path.write_bytes(b"dummy")
    assert resolve_checkpoint_file(parse_model_spec(f"cfg.json:{path}")) == path


def test_missing_checkpoint_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(WeightsUnavailableError, match="not found") as info:
        resolve_checkpoint_file(parse_model_spec(f"cfg.json:{missing}"))
    assert str(missing) in info.value.message


def test_hf_hub_weights_missing_offline(tmp_path: Path, no_network: list[Any]) -> None:
    with pytest.raises(WeightsUnavailableError) as info:
        resolve_hf_hub_weights(parse_model_spec("ViT-B-32:hf-hub:org/name"), tmp_path, allow_download=False)
    assert "downloads are off" in info.value.message
    assert no_network == []


def test_hf_hub_weights_from_cache(tmp_path: Path, no_network: list[Any]) -> None:
    cached = _fake_hub_cache(tmp_path, filename="open_clip_pytorch_model.bin")
    found = resolve_hf_hub_weights(
        parse_model_spec("ViT-B-32:hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K"), tmp_path, False
    )
    assert found.resolve() == cached.resolve()
    assert no_network == []
