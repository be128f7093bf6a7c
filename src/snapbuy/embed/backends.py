"""Where the image tower runs: torch itself, or the same weights exported to ONNX and run by ONNX
Runtime (float32, or int8 weights) or OpenVINO.

On a CPU the exported graph runs a batch-1 forward of ViT-B-32 1.6-1.8x faster than torch's eager
mode, and int8 weights faster still (docs/experiments/2026-12-04-inference-backends.md). The text tower
stays in torch: a text query is one short forward.

An exported graph is a function of the model's weights, the torch that exported it and the backend, so
it is written once to a cache folder under a name made of those, and reused on the next start."""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.jit._trace import TracerWarning

from snapbuy.atomic import write_file_atomically
from snapbuy.errors import ConfigError

log = logging.getLogger(__name__)

TORCH = "torch"
ONNXRUNTIME = "onnxruntime"
ONNXRUNTIME_INT8 = "onnxruntime-int8"
OPENVINO = "openvino"
BACKENDS = (TORCH, ONNXRUNTIME, ONNXRUNTIME_INT8, OPENVINO)
# Backends whose embeddings are those of torch's float32 forward up to float rounding; the others
# (int8 weights) agree only approximately (docs/experiments/2026-12-04-inference-backends.md).
FLOAT32_BACKENDS = frozenset({TORCH, ONNXRUNTIME, OPENVINO})
ONNX_OPSET = 17

# Pixels (float32 [n, 3, H, W], the model's preprocessing applied) -> features [n, dim].
ImageTower = Callable[[torch.Tensor], np.ndarray]


def unknown_backend(backend: str) -> str | None:
    """Why `backend` cannot be used, when it names none of BACKENDS; None when it is one."""
    if backend in BACKENDS:
        return None
    return f"unknown inference backend {backend!r}; use one of {', '.join(BACKENDS)}"


def check_backend(backend: str, device: str) -> None:
    if (problem := unknown_backend(backend)) is not None:
        raise ConfigError(problem)
    if backend != TORCH and not device.startswith("cpu"):
        raise ConfigError(
            f"the {backend} backend runs on the CPU; on {device} use the torch backend "
            "(SNAPBUY_BACKEND=torch)"
        )


def torch_tower(visual: Any, device: torch.device) -> ImageTower:
    def forward(pixels: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            features = visual(pixels.to(device))
        return np.asarray(features.float().cpu().numpy(), dtype=np.float32)

    return forward


def exported_tower(
    backend: str, visual: Any, image_size: tuple[int, int], model_key: str, cache_dir: Path | None
) -> ImageTower:
    """`visual` exported to ONNX (once per model, torch version and backend: see the module's notes)
    and loaded into `backend` with torch's thread count."""
    folder, temporary = _cache_folder(cache_dir)
    try:
        onnx_path = folder / f"{_graph_name(model_key)}.onnx"
        if not onnx_path.is_file():
            _export(visual, image_size, onnx_path)
        if backend == ONNXRUNTIME_INT8:
            int8_path = onnx_path.with_suffix(".int8.onnx")
            if not int8_path.is_file():
                _quantise(onnx_path, int8_path)
            return _onnxruntime_tower(int8_path)
        if backend == ONNXRUNTIME:
            return _onnxruntime_tower(onnx_path)
        return _openvino_tower(onnx_path)
    finally:
        if temporary:  # the runtimes hold the graph in memory once loaded: leave nothing behind
            shutil.rmtree(folder, ignore_errors=True)


def _graph_name(model_key: str) -> str:
    digest = hashlib.sha256(f"{model_key}|torch={torch.__version__}|opset={ONNX_OPSET}".encode())
    return "visual-" + digest.hexdigest()[:24]


def _cache_folder(cache_dir: Path | None) -> tuple[Path, bool]:
    """(the cache folder, False), or (a fresh temporary folder, True) when there is none or it cannot
    be written (models mounted read-only): the graph is then exported again at each start."""
    if cache_dir is not None:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            probe = cache_dir / ".write-probe"
            probe.touch()
            probe.unlink()
            return cache_dir, False
        except OSError as exc:
            log.warning("cannot cache exported models in %s (%s); exporting at each start", cache_dir, exc)
    return Path(tempfile.mkdtemp(prefix="snapbuy-graphs-")), True


def _export(visual: Any, image_size: tuple[int, int], target: Path) -> None:
    log.info("exporting the image tower to ONNX (%s), once for this model", target.name)
    sample = torch.zeros(2, 3, *image_size)

    def write(fh: Any) -> None:
        # The TorchScript exporter (pinned torch, no onnxscript needed) warns that it is the legacy one,
        # and that shape checks in attention become constants: the graph is checked against torch at
        # other batch sizes (tests/test_embed_backends.py).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=TracerWarning)
            _export_to(fh)

    def _export_to(fh: Any) -> None:
        torch.onnx.export(
            visual,
            (sample,),
            fh,
            input_names=["pixels"],
            output_names=["features"],
            dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )

    write_file_atomically(target, write)


@contextmanager
def _root_logger_quiet() -> Iterator[None]:
    """onnxruntime's quantiser logs a line per tensor through the root logger (hundreds for a ViT),
    which would bury snapbuy's own lines; only its warnings are let through."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


def _quantise(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log.info("quantising the image tower's weights to int8 (%s)", target.name)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        staged = Path(scratch) / target.name
        with _root_logger_quiet():
            quantize_dynamic(source, staged, weight_type=QuantType.QInt8)
        write_file_atomically(target, lambda fh: fh.write(staged.read_bytes()))


def _onnxruntime_tower(path: Path) -> ImageTower:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(pixels: torch.Tensor) -> np.ndarray:
        (features,) = session.run(["features"], {"pixels": pixels.numpy()})
        return np.asarray(features, dtype=np.float32)

    return forward


def _openvino_tower(path: Path) -> ImageTower:
    import openvino

    compiled = openvino.Core().compile_model(
        str(path),
        "CPU",
        {"INFERENCE_NUM_THREADS": torch.get_num_threads(), "PERFORMANCE_HINT": "LATENCY"},
    )

    def forward(pixels: torch.Tensor) -> np.ndarray:
        return np.asarray(compiled(pixels.numpy())[0], dtype=np.float32)

    return forward
