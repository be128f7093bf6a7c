from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from snapbuy.cli import app
from snapbuy.config import DEFAULT_MODEL_SPEC, Settings
from snapbuy.demo import run as demo_run
from snapbuy.demo.run import (
    DemoOptions,
    DemoOutcome,
    Say,
    _trained_on,
    choose_model,
    precision_note,
    run_demo,
    training_minutes,
)
from snapbuy.localiser import ProductLocaliser, ProductMapNet, localiser_path
from snapbuy.train.device import training_device
from snapbuy.train.localiser_process import trains_beside_model
from snapbuy.train.precision import resolve_precision


def test_demo_uses_default_weights_when_they_are_in_models(tmp_path: Path) -> None:
    spec, reason = choose_model(Settings(models_dir=tmp_path))
    assert spec is None and "trains its own model" in reason
    (tmp_path / "ViT-B-32_laion2b_s34b_b79k.safetensors").write_bytes(b"weights")
    spec, reason = choose_model(Settings(models_dir=tmp_path))
    assert spec == DEFAULT_MODEL_SPEC and "weights are in" in reason


# The demo command's training, bounded by steps (the command itself has only minutes): its time budget
# (DEMO_ARGS) is so long that it never ends first, so a busy machine trains the same model, slower.
DEMO_ARGS = ["demo", "--products", "30", "--minutes", "60", "--localiser-minutes", "60", "--no-serve"]
DEMO_MODEL_STEPS = 20
DEMO_LOCALISER_STEPS = 20


@pytest.mark.slow
def test_demo_end_to_end_on_a_tiny_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNAPBUY_MODELS_DIR", str(tmp_path / "models"))
    from snapbuy.config import get_settings

    def run_demo_by_steps(settings: Settings, options: DemoOptions, say: Say) -> DemoOutcome:
        bounded = replace(options, train_max_steps=DEMO_MODEL_STEPS, localiser_max_steps=DEMO_LOCALISER_STEPS)
        return run_demo(settings, bounded, say)

    monkeypatch.setattr(demo_run, "run_demo", run_demo_by_steps)  # the command imports it when it runs
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, DEMO_ARGS)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "trains its own model" in result.output
    device = training_device(None)
    where = "GPU" if device.type == "cuda" else "CPU"
    if resolve_precision("auto", device) == "bf16":
        where += " in bfloat16 autocast"
    order = "beside" if trains_beside_model(device) else "before"
    assert f"for 60 min or {DEMO_MODEL_STEPS} steps on the {where}, and {order} it" in result.output
    assert f"its product localiser for 60 min or {DEMO_LOCALISER_STEPS} steps (model:" in result.output
    assert f"trained {DEMO_MODEL_STEPS} steps in" in result.output
    assert "demo-clip.json:" in result.output and "demo-clip.pt (" in result.output
    assert "group_recall@1" in result.output and "floor 0.85" in result.output
    assert "with the model's product localiser" in result.output
    assert (tmp_path / "models" / "demo-clip.pt").is_file()
    assert list((tmp_path / "bench-results").glob("demo-eval-*.md"))
    # A second run reuses the model trained on the same shop instead of training again.
    again = CliRunner().invoke(app, DEMO_ARGS)
    assert again.exit_code == 0, again.output
    assert "already trained on this shop" in again.output


def test_demo_warns_when_the_cpu_trains_in_float32() -> None:
    note = precision_note("cpu", "fp32")
    assert note is not None and "float32" in note and "under a floor" in note
    assert precision_note("cpu", "bf16") is None  # the figures docs/demo.md reports
    assert precision_note("cuda", "fp32") is None  # measured on CPUs only; no GPU has run the demo


def test_a_model_is_reused_only_with_a_localiser_this_version_loads(tmp_path: Path) -> None:
    checkpoint = tmp_path / "demo-clip.pt"
    checkpoint.with_suffix(".json").write_text("{}")
    torch.save({"snapbuy_training": {"catalog_sha256": "abc"}}, checkpoint)
    assert _trained_on(checkpoint, "abc", wants_localiser=False)
    assert not _trained_on(checkpoint, "another shop", wants_localiser=False)
    assert not _trained_on(checkpoint, "abc", wants_localiser=True)  # none next to it
    torch.save({"format": 1, "width": 4, "input_side": 64, "state_dict": {}}, localiser_path(checkpoint))
    assert not _trained_on(checkpoint, "abc", wants_localiser=True)  # an older version's
    ProductLocaliser(ProductMapNet(width=4), input_side=64).save(localiser_path(checkpoint))
    assert _trained_on(checkpoint, "abc", wants_localiser=True)
    # A checkpoint that names another localiser (a run stopped between the two writes) is not reused.
    torch.save({"snapbuy_training": {"catalog_sha256": "abc", "localiser": {"sha256": "0" * 64}}}, checkpoint)
    assert not _trained_on(checkpoint, "abc", wants_localiser=True)


def test_training_time_defaults_follow_where_the_localiser_trains() -> None:
    assert training_minutes(None, None, beside=True) == pytest.approx((7.0, 7.0))  # side by side: 7 minutes
    assert training_minutes(None, None, beside=False) == pytest.approx(
        (5.0, 2.0)
    )  # one after the other: 7 minutes
    # A model time given: the localiser's follows in the same proportion, unless it is given too.
    assert training_minutes(3.5, None, beside=True) == pytest.approx((3.5, 3.5))
    assert training_minutes(2.5, None, beside=False) == pytest.approx((2.5, 1.0))
    assert training_minutes(3.0, 0.0, beside=True) == pytest.approx((3.0, 0.0))
