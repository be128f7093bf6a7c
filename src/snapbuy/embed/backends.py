"""Where the image tower runs: torch itself (float32, or its weights in bfloat16 or float16), or the
same weights exported to ONNX and run by ONNX Runtime (float32, or int8 weights) or OpenVINO.

On a CPU the exported graph runs a batch-1 forward of ViT-B-32 1.6-1.8x faster than torch's eager
mode, and int8 weights faster still (docs/benchmarks.md#the-real-model-on-the-cpu). The text tower
stays in torch: a text query is one short forward. Half precision pays where the hardware computes it
(a GPU; a CPU with AVX512-BF16 or AMX for bfloat16); elsewhere torch emulates it, several times slower
than float32, so a server asked for it says so.

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
from snapbuy.device import native_bf16
from snapbuy.errors import ConfigError

log = logging.getLogger(__name__)

TORCH = "torch"
TORCH_BF16 = "torch-bf16"
TORCH_FP16 = "torch-fp16"
ONNXRUNTIME = "onnxruntime"
ONNXRUNTIME_INT8 = "onnxruntime-int8"
OPENVINO = "openvino"
BACKENDS = (TORCH, TORCH_BF16, TORCH_FP16, ONNXRUNTIME, ONNXRUNTIME_INT8, OPENVINO)
# The torch backends and the dtype each runs the image tower's weights and activations in.
TORCH_DTYPES = {TORCH: torch.float32, TORCH_BF16: torch.bfloat16, TORCH_FP16: torch.float16}
# Backends whose embeddings are those of torch's float32 forward up to float rounding; the others
# (int8 weights, half precision) agree only approximately
# (docs/models-and-training.md#backends).
FLOAT32_BACKENDS = frozenset({TORCH, ONNXRUNTIME, OPENVINO})
ONNX_OPSET = 17
# The operators whose weights onnxruntime-int8 quantises. Not the patch embedding's Conv: its int8
# kernel (ConvInteger) ran 3x slower than the float32 Conv on an AVX2 CPU, and without it a batch-16
# forward ran 6 % faster (docs/experiments/2026-12-05-half-precision-and-int8.md). Part of the cached
# graph's name, so that a graph quantised otherwise is never reused.
QUANTISED_OPS = ("MatMul", "Gemm")

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
    on_cpu = device.startswith("cpu")
    if backend not in TORCH_DTYPES and not on_cpu:
        raise ConfigError(
            f"the {backend} backend runs on the CPU; on {device} use a torch backend "
            f"(SNAPBUY_BACKEND={TORCH}, {TORCH_BF16} or {TORCH_FP16})"
        )
    if backend == TORCH_FP16 and on_cpu:
        # float16 matrix products on a CPU are emulated: slower than float32 and no more accurate.
        raise ConfigError(
            f"the {TORCH_FP16} backend needs a GPU; on the CPU use {TORCH_BF16} (where the CPU has "
            f"AVX512-BF16 or AMX) or {ONNXRUNTIME_INT8}"
        )


def emulated_precision(backend: str, device: torch.device) -> str | None:
    """Why `backend` computes in a precision that `device` only emulates (so runs slower than float32),
    or None."""
    if backend == TORCH_FP16 and device.type == "cpu":
        return "a CPU emulates float16"
    if backend == TORCH_BF16 and not native_bf16(device):
        if device.type == "cpu":
            return "this CPU emulates bfloat16 (it has no AVX512-BF16 or AMX)"
        return f"{device.type} device {device} has no bfloat16 arithmetic"
    return None


def torch_tower(visual: Any, device: torch.device, dtype: torch.dtype = torch.float32) -> ImageTower:
    """`visual` run by torch, its weights cast to `dtype` here (in place: the tower is the caller's to
    give); its features come back in float32."""
    if dtype != torch.float32:
        visual.to(dtype)
        if dtype == torch.bfloat16 and (emulated := emulated_precision(TORCH_BF16, device)):
            log.warning(
                "the image tower runs in bfloat16 and %s: several times slower than float32 "
                "(SNAPBUY_BACKEND=%s)",
                emulated,
                TORCH,
            )

    def forward(pixels: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            features = visual(pixels.to(device, dtype))
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
            int8_path = onnx_path.with_suffix(f".int8-{'-'.join(QUANTISED_OPS).lower()}.onnx")
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
            quantize_dynamic(
                source, staged, weight_type=QuantType.QInt8, op_types_to_quantize=list(QUANTISED_OPS)
            )
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

    # Float32 asked for by name: on a CPU with AVX512-BF16 or AMX, OpenVINO otherwise runs the graph in
    # bfloat16, and the backend would no longer give torch's float32 vectors
    # (docs/experiments/2026-12-05-second-cpu-kind.md#openvino-on-a-bfloat16-cpu).
    compiled = openvino.Core().compile_model(
        str(path),
        "CPU",
        {
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
        },
    )

    def forward(pixels: torch.Tensor) -> np.ndarray:
        return np.asarray(compiled(pixels.numpy())[0], dtype=np.float32)

    return forward
