"""The demo model shipped inside snapbuy: a checkpoint, its config and its product localiser, trained
by `snapbuy train` on the demo shop (seed 0, 1,000 products) for as long as it needed, so that the
demo's quality does not hang on how many steps a few minutes buy on the machine at hand.

provenance.json beside the files records the command that made them, the seed, the steps, the
machine, and each file's SHA-256; the demo checks those digests before it serves the model, and a
model that does not match the shop being demonstrated is never used (docs/demo.md#shipped-model)."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapbuy.device import cpu_name
from snapbuy.embed.weights import file_sha256, training_record
from snapbuy.errors import ModelError

SHIPPED_FOLDER = "model"
PROVENANCE_FILE = "provenance.json"
MODEL_STEM = "demo-clip"


@dataclass(frozen=True)
class ShippedModel:
    checkpoint: Path
    provenance: dict[str, Any]

    @property
    def catalog_sha256(self) -> str:
        return str(self.provenance["catalog_sha256"])

    @property
    def folder(self) -> Path:
        return self.checkpoint.parent


def shipped_folder() -> Path:
    return Path(__file__).resolve().parent / SHIPPED_FOLDER


def _model_files(checkpoint: Path) -> list[Path]:
    return [
        checkpoint,
        checkpoint.with_suffix(".json"),
        checkpoint.with_name(f"{checkpoint.stem}.localiser.pt"),
    ]


def weights_sha256(checkpoint: Path) -> str:
    """A digest of the model's tensors alone, in name order: two trainings with the same command,
    seed, torch version and CPU kind give the same one, though their files differ (the checkpoint also
    records when it was trained and how long that took)."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    weights = state.get("state_dict", state) if isinstance(state, dict) else state
    digest = hashlib.sha256()
    for name in sorted(weights):
        tensor = weights[name]
        if isinstance(tensor, torch.Tensor):
            digest.update(name.encode())
            digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def shipped_model(folder: Path | None = None) -> ShippedModel | None:
    """The shipped model, its files' digests checked; None when this install ships none."""
    folder = folder or shipped_folder()
    provenance_path = folder / PROVENANCE_FILE
    if not provenance_path.is_file():
        return None
    provenance = json.loads(provenance_path.read_text())
    checkpoint = folder / f"{MODEL_STEM}.pt"
    for path in _model_files(checkpoint):
        expected = provenance["files"].get(path.name)
        if not path.is_file():
            raise ModelError(f"the shipped demo model lacks {path}: reinstall snapbuy")
        actual = file_sha256(path)
        if actual != expected:
            raise ModelError(
                f"the shipped demo model's {path.name} has SHA-256 {actual}, not the {expected} its "
                f"provenance records: the file is damaged (or a Git LFS pointer); reinstall snapbuy"
            )
    return ShippedModel(checkpoint, provenance)


def record_provenance(
    checkpoint: Path, command: str, folder: Path, localiser_steps: int | None = None
) -> dict[str, Any]:
    """Copy a trained demo model into `folder` under the shipped names and write provenance.json:
    how the files were made (from the checkpoint's own training record, and `localiser_steps` for a
    localiser trained by its own command) and their digests."""
    record = training_record(checkpoint)
    if record is None:
        raise ModelError(f"{checkpoint} records no snapbuy training: only `snapbuy train` output ships")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{MODEL_STEM}.pt"
    for source, dest in zip(_model_files(checkpoint), _model_files(target), strict=True):
        shutil.copyfile(source, dest)
    localiser = record.get("localiser") or {}
    provenance: dict[str, Any] = {
        "command": command,
        "seed": record["options"]["seed"],
        "catalog_sha256": record["catalog_sha256"],
        "catalog_products": record["catalog_products"],
        "steps": record["steps"],
        "seconds": record["seconds"],
        "localiser_steps": localiser.get("steps", localiser_steps),
        "device": record["device"],
        "precision": record["precision"],
        "trained_at": record["trained_at"],
        "snapbuy_version": record["snapbuy_version"],
        "machine": f"{platform.machine()} {cpu_name()}",
        "python": sys.version.split()[0],
        "torch": _torch_version(),
        "weights_sha256": weights_sha256(target),
        "files": {path.name: file_sha256(path) for path in _model_files(target)},
    }
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


# The commands that trained the shipped model (docs/demo.md#shipped-model), recorded in provenance.json:
# the model, then its localiser in four rounds, each going on from the one before on new scenes.
TRAINING_COMMANDS = (
    "snapbuy demo-data demo; "
    "OMP_NUM_THREADS=1 snapbuy train demo/catalog.csv --out models/demo-clip.pt --minutes 600 "
    "--max-steps 4500 --localiser-minutes 0 --seed 0; "
    "snapbuy train-localiser demo/catalog.csv --out models/round1.localiser.pt --minutes 600 "
    "--max-steps 5000 --seed 0; "
    "snapbuy train-localiser demo/catalog.csv --out models/round2.localiser.pt --minutes 600 "
    "--max-steps 5000 --seed 1 --start-from models/round1.localiser.pt; "
    "snapbuy train-localiser demo/catalog.csv --out models/round3.localiser.pt --minutes 600 "
    "--max-steps 5000 --seed 2 --start-from models/round2.localiser.pt; "
    "snapbuy train-localiser demo/catalog.csv --out models/demo-clip.localiser.pt --minutes 600 "
    "--max-steps 4000 --seed 3 --start-from models/round3.localiser.pt --input-side 96"
)
TRAINING_LOCALISER_STEPS = 19000


def main(argv: list[str] | None = None) -> None:
    """python -m snapbuy.demo.shipped CHECKPOINT: ship a model trained by TRAINING_COMMANDS."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m snapbuy.demo.shipped", description=main.__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--command", default=TRAINING_COMMANDS, help="how the files were trained")
    parser.add_argument("--localiser-steps", type=int, default=TRAINING_LOCALISER_STEPS)
    args = parser.parse_args(argv)
    provenance = record_provenance(args.checkpoint, args.command, shipped_folder(), args.localiser_steps)
    print(json.dumps(provenance, indent=2))


if __name__ == "__main__":
    main()
