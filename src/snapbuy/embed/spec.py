"""Model spec `ARCH[:WEIGHTS]` parsing (docs/models-and-training.md, "Model specs")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from snapbuy.errors import ModelSpecError

RANDOM_WEIGHTS = "random"
HF_HUB_PREFIX = "hf-hub:"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    text: str
    arch: str  # open_clip model name, or a path to a model-config JSON
    weights: str | None  # pretrained tag, checkpoint path, hf-hub:org/name, "random", or None

    @property
    def arch_is_config_file(self) -> bool:
        return self.arch.endswith(".json")

    @property
    def is_random(self) -> bool:
        return self.weights == RANDOM_WEIGHTS

    @property
    def weights_is_hf_hub(self) -> bool:
        return self.weights is not None and self.weights.startswith(HF_HUB_PREFIX)

    @property
    def weights_is_file(self) -> bool:
        if self.weights is None or self.is_random or self.weights_is_hf_hub:
            return False
        path = Path(self.weights)
        return "/" in self.weights or path.suffix in {".pt", ".pth", ".bin", ".safetensors"} or path.is_file()


def parse_model_spec(text: str) -> ModelSpec:
    """Split at the first ':' only: WEIGHTS may itself contain one (hf-hub:org/name)."""
    text = text.strip()
    if not text:
        raise ModelSpecError("empty model spec; expected ARCH[:WEIGHTS], e.g. ViT-B-32:laion2b_s34b_b79k")
    arch, sep, weights = text.partition(":")
    if not arch:
        raise ModelSpecError(f"model spec {text!r} has no architecture; expected ARCH[:WEIGHTS]")
    if sep and not weights:
        raise ModelSpecError(f"model spec {text!r} ends with ':'; give weights or drop the colon")
    return ModelSpec(text=text, arch=arch, weights=weights or None)


def trained_model_spec(checkpoint: Path) -> str:
    """The spec that loads a `snapbuy train` output: the config NAME.json written next to NAME.pt."""
    return f"{checkpoint.with_suffix('.json')}:{checkpoint}"
