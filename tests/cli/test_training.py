"""`snapbuy train-localiser` from the command line: it writes the file SNAPBUY_LOCALISER names, and
`snapbuy search` then finds the product with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from snapbuy.cli import build_app
from snapbuy.config import get_settings
from tests.conftest import SAMPLE_CATALOG


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """The CLI reads settings once per process (get_settings is cached): read them again here, and
    once more afterwards, so this test's environment does not outlive it."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def search_cli(photo: Path, index: Path) -> Result:
    get_settings.cache_clear()
    return CliRunner().invoke(build_app(), ["search", str(photo), "--index", str(index), "--json", "-k", "1"])


@pytest.mark.usefixtures("fresh_settings")
def test_a_trained_localiser_is_used_by_search(
    sample_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "shop.localiser.pt"
    trained = CliRunner().invoke(
        build_app(),
        ["train-localiser", str(SAMPLE_CATALOG), "--out", str(out), "--max-steps", "2", "--device", "cpu"],
    )
    assert trained.exit_code == 0, trained.output
    assert f"SNAPBUY_LOCALISER={out}" in trained.output and out.is_file()
    monkeypatch.setenv("SNAPBUY_LOCALISER", str(out))
    monkeypatch.setenv("SNAPBUY_MODELS_DIR", str(tmp_path / "models"))
    photo = SAMPLE_CATALOG.parent / "images" / "wat-2-blue.jpg"
    searched = search_cli(photo, sample_index)
    assert searched.exit_code == 0, searched.output
    assert json.loads(searched.stdout)["matches"]
    # The setting reaches the search: a localiser file that is not there stops it with a clear error.
    monkeypatch.setenv("SNAPBUY_LOCALISER", str(tmp_path / "gone.localiser.pt"))
    missing = search_cli(photo, sample_index)
    assert missing.exit_code != 0 and "cannot load the product localiser" in missing.output


def test_a_wrong_output_name_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["train-localiser", str(SAMPLE_CATALOG), "--out", str(tmp_path / "shop.pt")]
    )
    assert result.exit_code == 2 and "must end in .localiser.pt" in result.output


def test_train_localiser_goes_on_from_a_localiser(tmp_path: Path) -> None:
    first, second = tmp_path / "a.localiser.pt", tmp_path / "b.localiser.pt"
    args = [str(SAMPLE_CATALOG), "--max-steps", "1", "--device", "cpu", "--precision", "fp32"]
    made = CliRunner().invoke(build_app(), ["train-localiser", *args, "--out", str(first)])
    assert made.exit_code == 0, made.output
    went_on = CliRunner().invoke(
        build_app(),
        ["train-localiser", *args, "--out", str(second), "--start-from", str(first), "--input-side", "96"],
    )
    assert went_on.exit_code == 0, went_on.output
    assert "photos seen at 96 px" in went_on.output
    assert second.is_file() and second.read_bytes() != first.read_bytes()
    missing = CliRunner().invoke(
        build_app(),
        ["train-localiser", *args, "--out", str(second), "--start-from", str(tmp_path / "gone.pt")],
    )
    assert missing.exit_code != 0 and "cannot load the product localiser" in missing.output
