"""Model spec `ARCH[:WEIGHTS]` parsing (docs/models-and-training.md, "Model specs")."""

from __future__ import annotations

import pytest

from snapbuy.embed.spec import ModelSpec, parse_model_spec
from snapbuy.errors import ModelError, ModelSpecError


@pytest.mark.parametrize(
    ("text", "arch", "weights"),
    [
        ("ViT-B-32:laion2b_s34b_b79k", "ViT-B-32", "laion2b_s34b_b79k"),
        ("path/cfg.json:models/x.pt", "path/cfg.json", "models/x.pt"),
        # Split at the first colon only: the weights keep their own 'hf-hub:' prefix.
        ("ViT-B-32:hf-hub:org/name", "ViT-B-32", "hf-hub:org/name"),
        ("X:random", "X", "random"),
        ("ViT-B-32", "ViT-B-32", None),
        ("  ViT-B-32:random \n", "ViT-B-32", "random"),
    ],
)
def test_parse_model_spec_table(text: str, arch: str, weights: str | None) -> None:
    spec = parse_model_spec(text)
    assert spec == ModelSpec(text=text.strip(), arch=arch, weights=weights)


@pytest.mark.parametrize("text", ["", "   ", ":x", ":", "X:", "ViT-B-32:"])
def test_parse_model_spec_rejects(text: str) -> None:
    with pytest.raises(ModelSpecError) as info:
        parse_model_spec(text)
    assert "ARCH" in info.value.message or "weights" in info.value.message
    # A spec error is a model error with the "bad usage" exit code.
    assert isinstance(info.value, ModelError)
    assert info.value.exit_code == 2


def test_empty_spec_message_shows_an_example() -> None:
    with pytest.raises(ModelSpecError, match="ViT-B-32:laion2b_s34b_b79k"):
        parse_model_spec("")


def test_trailing_colon_message_says_what_is_wrong() -> None:
    with pytest.raises(ModelSpecError, match="ends with ':'"):
        parse_model_spec("X:")


def test_missing_architecture_message() -> None:
    with pytest.raises(ModelSpecError, match="no architecture"):
        parse_model_spec(":x")


@pytest.mark.parametrize(
    ("text", "config_file", "random", "is_file", "hf_hub"),
    [
        ("ViT-B-32:laion2b_s34b_b79k", False, False, False, False),
        ("path/cfg.json:models/x.pt", True, False, True, False),
        ("ViT-B-32:hf-hub:org/name", False, False, False, True),
        ("X:random", False, True, False, False),
        ("cfg.json:random", True, True, False, False),
        ("ViT-B-32", False, False, False, False),
        # A bare file name counts as a checkpoint when it has a weights suffix...
        ("ViT-B-32:model.safetensors", False, False, True, False),
        ("ViT-B-32:model.pth", False, False, True, False),
        ("ViT-B-32:model.bin", False, False, True, False),
        # ...and a relative path with a folder counts whatever its suffix.
        ("ViT-B-32:checkpoints/epoch_3", False, False, True, False),
    ],
)
def test_spec_properties(text: str, config_file: bool, random: bool, is_file: bool, hf_hub: bool) -> None:
    spec = parse_model_spec(text)
    assert spec.arch_is_config_file is config_file
    assert spec.is_random is random
    assert spec.weights_is_file is is_file
    assert spec.weights_is_hf_hub is hf_hub


def test_hf_hub_weights_are_never_a_file() -> None:
    # 'hf-hub:org/name' contains a '/', but it is a hub reference, not a path.
    spec = parse_model_spec("ViT-B-32:hf-hub:org/name.bin")
    assert spec.weights_is_hf_hub
    assert not spec.weights_is_file


def test_random_is_exact() -> None:
    assert not parse_model_spec("X:randomish").is_random
    assert not parse_model_spec("X:RANDOM_tag").is_random
