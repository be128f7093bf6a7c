"""The `embed` suite: images per second from JPEG files (decode alone, decode + embed at several batch
sizes) and the cost of a shopper query (the photo alone against the photo plus its crop grid), measured
side by side in one run with one model."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from snapbuy.bench.report import machine
from snapbuy.crops import query_crops
from snapbuy.embed.base import Embedder
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, load_image_file
from snapbuy.results import write_results


@dataclass
class EmbedFigures:
    decode_images_per_second: float
    embed_images_per_second: dict[int, float]  # batch size -> images/s, decode included
    query_ms: dict[str, float]  # median per photo: "photo alone", "photo + crop grid"
    crops_per_photo: int


def _decode(path: Path) -> Any:
    return load_image_file(path, max_bytes=LOCAL_FILE_MAX_BYTES, max_pixels=LOCAL_FILE_MAX_PIXELS)


def measure_embedding(
    embedder: Embedder, photos: Sequence[Path], batch_sizes: Sequence[int], crop_scales: Sequence[float]
) -> EmbedFigures:
    started = time.perf_counter()
    images = [_decode(p) for p in photos]
    decode_rate = len(photos) / (time.perf_counter() - started)
    embedder.embed_images(images[:1])  # warm-up
    rates: dict[int, float] = {}
    for size in batch_sizes:
        started = time.perf_counter()
        for start in range(0, len(photos), size):
            embedder.embed_images([_decode(p) for p in photos[start : start + size]])
        rates[size] = round(len(photos) / (time.perf_counter() - started), 2)
    alone, grid = [], []
    for image in images:
        started = time.perf_counter()
        embedder.embed_images([image])
        alone.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        embedder.embed_images(query_crops(image, crop_scales))
        grid.append((time.perf_counter() - started) * 1000)
    return EmbedFigures(
        decode_images_per_second=round(decode_rate, 2),
        embed_images_per_second=rates,
        query_ms={
            "photo alone": round(statistics.median(alone), 1),
            "photo + crop grid": round(statistics.median(grid), 1),
        },
        crops_per_photo=len(query_crops(images[0], crop_scales)),
    )


def embed_benchmark(
    embedder: Embedder,
    photos: Sequence[Path],
    out_dir: Path,
    *,
    batch_sizes: Sequence[int] = (1, 16),
    crop_scales: Sequence[float] = (1.0, 0.7, 0.5),
) -> tuple[tuple[Path, Path], EmbedFigures]:
    figures = measure_embedding(embedder, photos, batch_sizes, crop_scales)
    identity = embedder.identity
    weights_note = " (random weights: a speed figure only)" if identity.is_random else ""
    smallest = min(figures.embed_images_per_second)
    payload: dict[str, Any] = {
        "suite": "embed",
        "machine": machine(),
        "settings": {
            "model": identity.spec,
            "random_weights": identity.is_random,
            "photos": len(photos),
            "batch_sizes": list(batch_sizes),
            "crop_scales": list(crop_scales),
        },
        "figures": asdict(figures),
    }
    lines = [
        f"# snapbuy bench: embed ({identity.spec}{weights_note}, {len(photos)} phone-sized JPEG photos)",
        "",
        f"Decoding alone: {figures.decode_images_per_second:.1f} images/s.",
        "",
        "| batch size | images/s (decode + embed) | vs batch " + str(smallest) + " |",
        "|---|---|---|",
        *(
            f"| {size} | {rate:.2f} | {rate / figures.embed_images_per_second[smallest]:.2f}x |"
            for size, rate in figures.embed_images_per_second.items()
        ),
        "",
        f"One shopper query: photo alone {figures.query_ms['photo alone']:.0f} ms; photo + crop grid "
        f"({figures.crops_per_photo} images) {figures.query_ms['photo + crop grid']:.0f} ms "
        f"({figures.query_ms['photo + crop grid'] / figures.query_ms['photo alone']:.1f}x).",
    ]
    return write_results(out_dir, "embed", payload, "\n".join(lines) + "\n"), figures
