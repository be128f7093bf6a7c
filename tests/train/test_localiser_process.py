"""The localiser's training in a process of its own: its result, its errors, and that it never
outlives the training that started it."""

from __future__ import annotations

import multiprocessing
import signal
from pathlib import Path

import pytest
import torch

from snapbuy.demo.shop import PALETTE, generate_products
from snapbuy.demo.sprites import draw_sprite
from snapbuy.errors import ImageError, SnapbuyError
from snapbuy.localiser import ProductLocaliser
from snapbuy.synth.photos import studio_shot
from snapbuy.train.localiser_process import LocaliserProcess, trains_beside_model

PROCESS_NAME = "snapbuy-localiser-training"


@pytest.fixture(scope="module")
def studio_shots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("shots")
    paths = []
    for product in generate_products(20, seed=3)[:6]:
        path = out / f"{product.sku.lower()}.jpg"
        studio_shot(draw_sprite(product.design, PALETTE[product.colour])).save(path, quality=92)
        paths.append(path)
    return paths


def _running() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == PROCESS_NAME]


def test_it_trains_beside_the_model_only_on_a_cpu_with_threads_to_share() -> None:
    assert trains_beside_model(torch.device("cpu"), threads=2)
    assert trains_beside_model(torch.device("cpu"), threads=16)
    assert not trains_beside_model(torch.device("cpu"), threads=1)
    assert not trains_beside_model(torch.device("cuda"), threads=16)  # one device: one after the other


def test_the_process_returns_a_localiser_that_loads(studio_shots: list[Path], tmp_path: Path) -> None:
    with LocaliserProcess(studio_shots, seconds=600, seed=0, threads=1, max_steps=3) as job:
        trained = job.result()
    assert trained.threads == 1 and len(trained.losses) == 3  # its steps, long before its time
    saved = tmp_path / "shop.localiser.pt"
    saved.write_bytes(trained.data)
    localiser = ProductLocaliser.load(saved)
    assert localiser.input_side > 0
    assert not _running()


def test_an_error_in_the_process_is_raised_here(studio_shots: list[Path], tmp_path: Path) -> None:
    missing = tmp_path / "gone.jpg"
    with (
        LocaliserProcess([*studio_shots, missing], seconds=600, seed=0, threads=1, max_steps=3) as job,
        pytest.raises(ImageError, match=r"gone\.jpg"),
    ):
        job.result()


def test_a_process_that_dies_is_an_error_not_a_hang(studio_shots: list[Path]) -> None:
    with LocaliserProcess(studio_shots, seconds=600, seed=0, threads=1) as job:
        (child,) = _running()
        child.kill()
        with pytest.raises(SnapbuyError, match="ended without a result"):
            job.result()


def test_leaving_early_stops_the_process(studio_shots: list[Path]) -> None:
    with (
        pytest.raises(RuntimeError, match="model training failed"),
        LocaliserProcess(studio_shots, seconds=600, seed=0, threads=1),
    ):
        (child,) = _running()
        raise RuntimeError("model training failed")
    assert not _running()
    assert child.exitcode == -signal.SIGTERM  # stopped, not waited for: a finished training exits 0
