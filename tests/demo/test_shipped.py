from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from snapbuy.catalog import read_catalog
from snapbuy.demo import shipped
from snapbuy.demo.generate import write_demo_data
from snapbuy.demo.shipped import (
    PROVENANCE_FILE,
    record_provenance,
    shipped_folder,
    shipped_model,
    weights_sha256,
)
from snapbuy.embed.spec import parse_model_spec, trained_model_spec
from snapbuy.embed.weights import file_sha256
from snapbuy.errors import ModelError
from snapbuy.localiser import localiser_for
from snapbuy.train.trainer import TrainOptions, TrainReport, train

# Bounded by steps, with a time budget that never ends first: a busy machine trains the same model.
OPTIONS = TrainOptions(
    minutes=60.0, max_steps=3, batch_size=16, localiser_minutes=60.0, localiser_max_steps=1, seed=4
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shop")
    write_demo_data(out, n_products=24, seed=3, n_queries=1, workers=1)
    return out


@pytest.fixture(scope="module")
def trained(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainReport:
    return train(shop / "catalog.csv", tmp_path_factory.mktemp("models") / "shop.pt", options=OPTIONS)


def test_provenance_records_how_the_model_was_made_and_its_digests(
    trained: TrainReport, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    provenance = record_provenance(trained.checkpoint, "snapbuy train ...", folder)
    assert provenance["command"] == "snapbuy train ..." and provenance["seed"] == OPTIONS.seed
    assert provenance["steps"] == 3 and provenance["localiser_steps"] == 1
    assert set(provenance["files"]) == {"demo-clip.pt", "demo-clip.json", "demo-clip.localiser.pt"}
    assert json.loads((folder / PROVENANCE_FILE).read_text()) == provenance
    shipped = shipped_model(folder)
    assert shipped is not None and shipped.catalog_sha256 == provenance["catalog_sha256"]
    # What the demo then loads: the config beside the checkpoint and the localiser beside it.
    spec = trained_model_spec(shipped.checkpoint)
    assert localiser_for(parse_model_spec(spec)) is not None


def test_the_shipped_model_fits_the_shop_it_was_trained_on(
    trained: TrainReport, shop: Path, tmp_path: Path
) -> None:
    shipped = shipped_model(_recorded(trained, tmp_path))
    assert shipped is not None
    assert shipped.catalog_sha256 == read_catalog(shop / "catalog.csv").sha256


def _recorded(trained: TrainReport, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    record_provenance(trained.checkpoint, "cmd", folder)
    return folder


def test_a_damaged_file_is_refused_naming_it(trained: TrainReport, tmp_path: Path) -> None:
    folder = _recorded(trained, tmp_path)
    with (folder / "demo-clip.localiser.pt").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(ModelError, match=r"demo-clip\.localiser\.pt"):
        shipped_model(folder)


def test_a_missing_file_is_refused_naming_it(trained: TrainReport, tmp_path: Path) -> None:
    folder = _recorded(trained, tmp_path)
    (folder / "demo-clip.json").unlink()
    with pytest.raises(ModelError, match=r"demo-clip\.json"):
        shipped_model(folder)


def test_no_provenance_means_no_shipped_model(tmp_path: Path) -> None:
    assert shipped_model(tmp_path) is None


def test_a_checkpoint_without_a_training_record_does_not_ship(tmp_path: Path) -> None:
    import torch

    checkpoint = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, checkpoint)
    with pytest.raises(ModelError, match="records no snapbuy training"):
        record_provenance(checkpoint, "cmd", tmp_path / "model")


def test_the_same_command_and_seed_train_the_same_weights(shop: Path, tmp_path: Path) -> None:
    # The model alone, as the shipped one is trained (docs/demo.md#shipped-model): a localiser beside
    # it hands its thread back at a moment the clock decides, which changes the rounding.
    alone = replace(OPTIONS, localiser_minutes=0.0)
    first = train(shop / "catalog.csv", tmp_path / "first.pt", options=alone)
    again = train(shop / "catalog.csv", tmp_path / "again.pt", options=alone)
    assert file_sha256(again.checkpoint) != file_sha256(first.checkpoint)  # it records when it ran
    assert weights_sha256(again.checkpoint) == weights_sha256(first.checkpoint)


@pytest.mark.slow
def test_the_model_shipped_with_snapbuy_fits_the_default_demo_shop(tmp_path: Path) -> None:
    shipped = shipped_model()
    if shipped is None:
        pytest.skip(f"this checkout ships no demo model in {shipped_folder()}")
    write_demo_data(tmp_path, n_products=1000, seed=0, n_queries=1)
    assert shipped.catalog_sha256 == read_catalog(tmp_path / "catalog.csv").sha256
    assert shipped.provenance["weights_sha256"] == weights_sha256(shipped.checkpoint)


def test_the_module_ships_a_checkpoint_with_the_commands_that_trained_it(
    trained: TrainReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shipped, "shipped_folder", lambda: tmp_path / "model")
    shipped.main([str(trained.checkpoint)])
    provenance = json.loads((tmp_path / "model" / PROVENANCE_FILE).read_text())
    assert provenance["command"] == shipped.TRAINING_COMMANDS
    assert provenance["localiser_steps"] == 1  # the checkpoint's own record wins over the default
    assert shipped.shipped_model(tmp_path / "model") is not None
