"""The image tower's backends (embed/backends.py) on the tiny model: each agrees with torch, the
exported graph is made once and reused, half precision says when the CPU only emulates it, and the
choices that cannot work are refused."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from snapbuy.config import Settings
from snapbuy.embed import backends
from snapbuy.embed.backends import BACKENDS, FLOAT32_BACKENDS, TORCH_FP16, check_backend, emulated_precision
from snapbuy.embed.base import ModelIdentity
from snapbuy.embed.openclip import OpenClipEmbedder, load_embedder
from snapbuy.errors import ConfigError
from tests.conftest import TINY_SPEC


def photos() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for _ in range(5)]


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("graphs")


def tiny(backend: str, graphs: Path) -> OpenClipEmbedder:
    return load_embedder(TINY_SPEC, models_dir=Path("models"), backend=backend, graph_cache=graphs)


# torch-fp16 needs a GPU (refused on the CPU: below).
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b not in ("torch", TORCH_FP16)])
def test_each_backend_agrees_with_torch(backend: str, graphs: Path, tiny_embedder: OpenClipEmbedder) -> None:
    expected = tiny_embedder.embed_images(photos())
    embedder = tiny(backend, graphs)
    got = embedder.embed_images(photos())
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(got * expected, axis=1)
    assert cosines.min() > (0.99999 if backend in FLOAT32_BACKENDS else 0.98), cosines
    assert embedder.identity.backend == backend
    assert embedder.identity.same_model(tiny_embedder.identity)  # one index serves both
    assert embedder.embed_images([]).shape == (0, embedder.dim)
    one = embedder.embed_images(photos()[:1])  # another batch size than the export's
    assert float(np.dot(one[0], expected[0])) > 0.98


def test_the_backend_is_recorded_with_the_model(graphs: Path) -> None:
    identity = tiny("onnxruntime", graphs).identity
    assert identity.to_json()["backend"] == "onnxruntime"
    assert ModelIdentity.from_json(identity.to_json(), identity.preprocessing) == identity
    older = {k: v for k, v in identity.to_json().items() if k != "backend"}  # a manifest from before
    assert ModelIdentity.from_json(older, identity.preprocessing).backend == "torch"


def test_the_exported_graph_is_made_once_and_reused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="snapbuy.embed.backends")
    first = tiny("onnxruntime-int8", tmp_path).embed_images(photos())
    made = sorted(p.name for p in tmp_path.iterdir())
    assert len(made) == 2 and made[0].endswith(".int8-matmul-gemm.onnx") and made[1].endswith(".onnx")
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    caplog.clear()
    again = tiny("onnxruntime-int8", tmp_path).embed_images(photos())
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps
    assert not [r for r in caplog.records if "exporting" in r.getMessage() or "quantising" in r.getMessage()]
    assert np.array_equal(first, again)


def test_the_quantisers_line_per_tensor_stays_out_of_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the root logger at INFO, as the CLI sets it
    tiny("onnxruntime-int8", tmp_path).embed_images(photos())
    assert [r.getMessage() for r in caplog.records if r.name == "snapbuy.embed.backends"]  # our own lines
    assert not [r for r in caplog.records if r.name == "root" and r.levelno < logging.WARNING]
    assert logging.getLogger().level == logging.INFO  # put back as it was


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime-int8"])
def test_without_a_usable_cache_the_graph_is_exported_and_nothing_is_left_behind(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert tiny(backend, not_a_folder).embed_images(photos()).shape[0] == 5
    assert list(scratch.iterdir()) == []  # the exported graph went with its temporary folder


def test_unknown_backends_and_exported_graphs_on_a_gpu_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown inference backend 'tensorrt'"):
        check_backend("tensorrt", "cpu")
    with pytest.raises(ConfigError, match="runs on the CPU"):
        check_backend("onnxruntime", "cuda")
    with pytest.raises(ConfigError, match="torch-fp16 backend needs a GPU"):
        check_backend("torch-fp16", "cpu")
    for backend in ("torch", "torch-bf16", "torch-fp16"):
        check_backend(backend, "cuda")
    with pytest.raises(ValidationError, match="unknown inference backend"):
        Settings(backend="tensorrt")
    assert Settings(models_dir=Path("m")).graph_cache_dir == Path("m") / "compiled"


@pytest.mark.parametrize("native", [False, True])
def test_bfloat16_on_a_cpu_that_emulates_it_is_said_in_the_log(
    native: bool, graphs: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(backends, "native_bf16", lambda device: native)
    caplog.set_level(logging.WARNING, logger="snapbuy.embed.backends")
    embedder = tiny("torch-bf16", graphs)
    said = [r.getMessage() for r in caplog.records if "emulates" in r.getMessage()]
    if native:
        assert said == []
    else:
        assert len(said) == 1 and "bfloat16" in said[0] and "slower" in said[0]
    assert embedder.embed_images(photos()).dtype == np.float32  # features come back in float32


def test_half_precision_is_emulated_where_the_hardware_lacks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    assert emulated_precision("torch-fp16", cpu) == "a CPU emulates float16"
    for backend in ("torch", "onnxruntime", "onnxruntime-int8", "openvino"):
        assert emulated_precision(backend, cpu) is None
    monkeypatch.setattr(backends, "native_bf16", lambda device: False)
    assert "emulates bfloat16" in (emulated_precision("torch-bf16", cpu) or "")
    monkeypatch.setattr(backends, "native_bf16", lambda device: True)
    assert emulated_precision("torch-bf16", cpu) is None
