"""Drivers for the embed, api and quality suites: each makes its inputs (a demo shop of phone-sized
JPEG shopper photos, an index of it) in a temporary folder, runs its suite, and leaves only results."""

from __future__ import annotations

import tempfile
from pathlib import Path

from snapbuy.config import SPEED_MODEL_SPEC, Settings
from snapbuy.demo.run import Say


def _shop(folder: Path, products: int, queries: int) -> tuple[Path, list[Path]]:
    from snapbuy.demo.generate import CATALOG_FILE, write_demo_data

    write_demo_data(folder, products, seed=0, n_queries=queries)
    return folder / CATALOG_FILE, sorted((folder / "queries").glob("*.jpg"))[:queries]


def run_embed_suite(settings: Settings, model: str | None, quick: bool, out: Path) -> tuple[Path, Path]:
    from snapbuy.bench.embed_suite import embed_benchmark
    from snapbuy.embed.openclip import load_embedder

    spec = model or SPEED_MODEL_SPEC
    embedder = load_embedder(spec, models_dir=settings.models_dir, device=settings.device)
    with tempfile.TemporaryDirectory(prefix="snapbuy-embed-") as tmp:
        _, photos = _shop(Path(tmp), 40, 16 if quick else 64)
        paths, _ = embed_benchmark(embedder, photos, out, crop_scales=settings.crop_scales)
    return paths


def run_api_suite(settings: Settings, model: str | None, quick: bool, out: Path) -> tuple[Path, Path]:
    from snapbuy.bench.api_suite import api_benchmark
    from snapbuy.embed.openclip import load_embedder
    from snapbuy.indexing import IndexingOptions, build_index

    spec = model or SPEED_MODEL_SPEC
    embedder = load_embedder(spec, models_dir=settings.models_dir, device=settings.device)
    with tempfile.TemporaryDirectory(prefix="snapbuy-api-") as tmp:
        catalog, photos = _shop(Path(tmp) / "shop", 60 if quick else 200, 16)
        index = Path(tmp) / "index"
        build_index(catalog, index, embedder, IndexingOptions(batch_size=settings.batch_size))
        paths, _ = api_benchmark(
            index,
            [p.read_bytes() for p in photos],
            out,
            concurrency=(1, 4) if quick else (1, 4, 8),
            requests=12 if quick else 40,
            env={"SNAPBUY_MODELS_DIR": str(settings.models_dir.resolve())},
        )
    return paths


def run_quality_suite(settings: Settings, quick: bool, out: Path, say: Say) -> tuple[Path, Path]:
    from snapbuy.bench.quality_suite import quality_benchmark

    paths, _ = quality_benchmark(settings, 200 if quick else 1000, 1.0 if quick else None, out, say)
    return paths
