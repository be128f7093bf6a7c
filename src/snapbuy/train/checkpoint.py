"""Writing a trained model: its open_clip config (NAME.json), its localiser (NAME.localiser.pt) and
the checkpoint (NAME.pt) with how it was trained, in the order that keeps a half-written set
detectable."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snapbuy.atomic import write_file_atomically
from snapbuy.train.localiser_process import TrainedLocaliser

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFiles:
    checkpoint: Path  # NAME.pt
    config: Path  # NAME.json
    localiser: Path  # NAME.localiser.pt (written only when a localiser was trained)


def localiser_record(
    trained: TrainedLocaliser, file_name: str, beside: bool, families: list[str]
) -> dict[str, Any]:
    """What the checkpoint records about the localiser trained with it."""
    info = {
        "file": file_name,
        "sha256": hashlib.sha256(trained.data).hexdigest(),
        "steps": len(trained.losses),
        "first_loss": trained.losses[0],
        "last_loss": float(np.mean(trained.losses[-10:])),
        "families": families,
        "beside_the_model": beside,
        "threads": trained.threads,
        "precision": trained.precision,
    }
    log.info(
        "trained the product localiser: %d steps, loss %.3f -> %.3f",
        len(trained.losses),
        trained.losses[0],
        info["last_loss"],
    )
    return info


def _preprocess_cfg(preprocessing: dict[str, Any]) -> dict[str, Any]:
    """open_clip's preprocess_cfg keys (image size comes from the model config itself)."""
    return {k: v for k, v in preprocessing.items() if k != "image_size"}


def write_trained_model(
    files: ModelFiles,
    model: Any,
    model_cfg: dict[str, Any],
    preprocessing: dict[str, Any],
    metadata: dict[str, Any],
    localiser: TrainedLocaliser | None,
) -> None:
    """Config first, then the localiser (or the removal of an older run's, which belongs to another
    model), then the checkpoint, which names its localiser by digest: a run stopped between two
    writes leaves a set that the loaders refuse instead of one that silently mismatches."""
    config = {"model_cfg": model_cfg, "preprocess_cfg": _preprocess_cfg(preprocessing)}
    write_file_atomically(files.config, lambda fh: fh.write(json.dumps(config, indent=2).encode()))
    if localiser is not None:
        write_file_atomically(files.localiser, lambda fh: fh.write(localiser.data))
    else:
        files.localiser.unlink(missing_ok=True)
    write_file_atomically(
        files.checkpoint,
        lambda fh: torch.save({"state_dict": model.state_dict(), "snapbuy_training": metadata}, fh),
    )
