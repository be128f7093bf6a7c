"""The `embed` suite: images per second from JPEG files (decode alone, decode + embed at several batch
sizes; the indexing pipeline against the bare forward of its backend and against a plain script in
torch float32) and the cost of a shopper query (the photo alone against the photo plus its crop grid),
measured side by side in one run with one model."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from snapbuy.bench.report import machine
from snapbuy.crops import query_crops
from snapbuy.embed.base import Embedder, SplitEmbedder, input_side
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, load_image_file
from snapbuy.indexing.embedding import JobEmbedder
from snapbuy.indexing.embedding_cache import EmbeddingCache
from snapbuy.indexing.image_bytes import JobBytes
from snapbuy.indexing.options import IndexingOptions
from snapbuy.results import write_results

PIPELINE_BATCH = 32
# Shopper queries are timed on this many photos at most: the crop grid embeds dozens of images per
# photo, and a median over 16 is steady.
QUERY_PHOTOS = 16


@dataclass
class EmbedFigures:
    decode_images_per_second: float
    embed_images_per_second: dict[int, float]  # batch size -> images/s, decode included, one thread
    query_ms: dict[str, float]  # median per photo: "photo alone", "photo + crop grid"
    crops_per_photo: int
    # The indexing pipeline (decode and prepare in a pool, one batch ahead of the model) from the JPEG
    # files, and the bare forward of prepared pixels, both at PIPELINE_BATCH; None: the embedder
    # cannot be called apart (SplitEmbedder).
    pipeline_images_per_second: float | None = None
    bare_forward_images_per_second: float | None = None
    # The plain script a user would write: each file decoded in full by PIL, open_clip's preprocess
    # and torch's float32 forward at PIPELINE_BATCH, in one loop; None: not measured. The three
    # rates are medians of rounds run in turn.
    reference_images_per_second: float | None = None
    rounds: int = 1


def forward_seconds(embedder: SplitEmbedder, side: int, batch: int, repeats: int) -> list[float]:
    """Seconds each of `repeats` bare forwards of `batch` prepared (random) images took, after one
    forward to warm up (first-call allocations, lazy initialisation)."""
    pixels = torch.rand(batch, 3, side, side)
    embedder.embed_prepared(pixels)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        embedder.embed_prepared(pixels)
        times.append(time.perf_counter() - started)
    return times


def _bare_forward_rate(embedder: SplitEmbedder, side: int, images: int) -> float:
    forwards = max(1, images // PIPELINE_BATCH)
    return forwards * PIPELINE_BATCH / sum(forward_seconds(embedder, side, PIPELINE_BATCH, forwards))


def _pipeline_rate(embedder: Embedder, photos: Sequence[Path], workdir: Path) -> float:
    contents = [p.read_bytes() for p in photos]
    cache = EmbeddingCache(workdir / "pipeline-cache.sqlite", "bench", embedder.dim)
    options = IndexingOptions(batch_size=PIPELINE_BATCH, decode_workers=2)
    started = time.perf_counter()
    result = JobEmbedder(len(contents), embedder, cache, options, None, None).run(
        JobBytes(job, data, None) for job, data in enumerate(contents)
    )
    return int(result.ok.sum()) / (time.perf_counter() - started)


def _reference_rate(reference: Embedder, photos: Sequence[Path]) -> float:
    started = time.perf_counter()
    for start in range(0, len(photos), PIPELINE_BATCH):
        images = []
        for path in photos[start : start + PIPELINE_BATCH]:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        reference.embed_images(images)
    return len(photos) / (time.perf_counter() - started)


def _decode(path: Path) -> Any:
    return load_image_file(path, max_bytes=LOCAL_FILE_MAX_BYTES, max_pixels=LOCAL_FILE_MAX_PIXELS)


def measure_embedding(
    embedder: Embedder,
    photos: Sequence[Path],
    batch_sizes: Sequence[int],
    crop_scales: Sequence[float],
    reference: Embedder | None = None,
    rounds: int = 1,
) -> EmbedFigures:
    """`reference`: the same model run by torch in float32, for the plain script's rate."""
    started = time.perf_counter()
    images = []  # the first QUERY_PHOTOS, kept for the query timings; the rest are let go
    for number, photo in enumerate(photos):
        image = _decode(photo)
        if number < QUERY_PHOTOS:
            images.append(image)
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
    pipeline = bare = reference_rate = None
    side = input_side(embedder.identity.preprocessing)
    if isinstance(embedder, SplitEmbedder) and side is not None:
        pipelines, bares, references = [], [], []
        for _ in range(rounds):  # in turn, so that a machine's drift touches each alike
            with tempfile.TemporaryDirectory(prefix="snapbuy-pipeline-") as workdir:
                pipelines.append(_pipeline_rate(embedder, photos, Path(workdir)))
            bares.append(_bare_forward_rate(embedder, side, len(photos)))
            if reference is not None:
                references.append(_reference_rate(reference, photos))
        pipeline, bare = round(statistics.median(pipelines), 2), round(statistics.median(bares), 2)
        reference_rate = round(statistics.median(references), 2) if references else None
    return EmbedFigures(
        pipeline_images_per_second=pipeline,
        bare_forward_images_per_second=bare,
        reference_images_per_second=reference_rate,
        rounds=rounds,
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
    reference: Embedder | None = None,
    rounds: int = 1,
) -> tuple[tuple[Path, Path], EmbedFigures]:
    figures = measure_embedding(embedder, photos, batch_sizes, crop_scales, reference, rounds)
    identity = embedder.identity
    weights_note = " (random weights: a speed figure only)" if identity.is_random else ""
    smallest = min(figures.embed_images_per_second)
    payload: dict[str, Any] = {
        "suite": "embed",
        "machine": machine(),
        "settings": {
            "model": identity.spec,
            "backend": identity.backend,
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
    if figures.pipeline_images_per_second and figures.bare_forward_images_per_second:
        lines += [
            "",
            f"Indexing pipeline from the JPEG files (decode and prepare in 2 threads, one batch ahead of "
            f"the model, batch {PIPELINE_BATCH}, backend {identity.backend}): "
            f"{figures.pipeline_images_per_second:.2f} images/s = "
            f"{figures.pipeline_images_per_second / figures.bare_forward_images_per_second:.2f}x the bare "
            f"forward of prepared pixels ({figures.bare_forward_images_per_second:.2f} images/s), and "
            f"{figures.pipeline_images_per_second / figures.embed_images_per_second[max(batch_sizes)]:.2f}x "
            f"decode + embed on one thread at batch {max(batch_sizes)}.",
        ]
    if figures.pipeline_images_per_second and figures.reference_images_per_second:
        lines += [
            "",
            f"Reference script (PIL decodes each file in full, open_clip's preprocess, torch float32 "
            f"forward at batch {PIPELINE_BATCH}, one loop): {figures.reference_images_per_second:.2f} "
            f"images/s; the indexing pipeline ({identity.backend}) is "
            f"{figures.pipeline_images_per_second / figures.reference_images_per_second:.2f}x it "
            + (
                f"(medians of {figures.rounds} rounds run in turn)." if figures.rounds > 1 else "(one round)."
            ),
        ]
    return write_results(out_dir, "embed", payload, "\n".join(lines) + "\n"), figures
