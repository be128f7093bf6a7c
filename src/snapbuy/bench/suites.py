"""The benchmark suites in one registry: each suite's name, what it measures, and a runner that makes
its inputs (synthetic vectors, or a demo shop of phone-sized JPEG shopper photos and an index of it) in
a temporary folder, runs it, and leaves only result files. `snapbuy bench SUITE` looks the suite up
here; adding a suite is one entry."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from snapbuy.config import SPEED_MODEL_SPEC, Settings
from snapbuy.errors import InvalidParameterError

SPECTRA = ("decaying", "flat")


@dataclass(frozen=True)
class BenchRequest:
    """Everything `snapbuy bench` may pass; each suite reads the fields it uses."""

    settings: Settings
    out: Path
    quick: bool = False
    size: int | None = None  # SKUs; None: 100k with quick, else 1M
    queries: int = 300
    repeats: int = 2
    index_types: tuple[str, ...] = ()
    spectrum: str = "decaying"
    model: str | None = None
    photos: Path | None = None  # a folder of JPEGs for the embed suite; None: drawn demo-shop photos
    batch: int = 1024
    batches: int = 20
    say: Callable[[str], None] = print

    @property
    def skus(self) -> int:
        return self.size or (100_000 if self.quick else 1_000_000)


@dataclass(frozen=True)
class BenchSuite:
    name: str
    summary: str
    run: Callable[[BenchRequest], list[Path]]  # result files: JSON and Markdown first, then plots


def _shop(folder: Path, products: int, queries: int) -> tuple[Path, list[Path]]:
    from snapbuy.demo.generate import CATALOG_FILE, write_demo_data

    write_demo_data(folder, products, seed=0, n_queries=queries)
    return folder / CATALOG_FILE, sorted((folder / "queries").glob("*.jpg"))[:queries]


def run_search_suite(request: BenchRequest) -> list[Path]:
    from snapbuy.bench.search_suite import SearchBenchSettings, search_benchmark

    if request.spectrum not in SPECTRA:
        raise InvalidParameterError(f"--spectrum must be decaying or flat, not {request.spectrum!r}")
    types = tuple(t.strip() for t in request.index_types if t.strip())
    with tempfile.TemporaryDirectory(prefix="snapbuy-bench-") as workdir:
        settings = SearchBenchSettings(
            size=request.skus,
            queries=request.queries,
            workdir=Path(workdir),
            out_dir=request.out,
            quick=request.quick,
            repeats=request.repeats,
            spectrum=request.spectrum,
            index_types=types,
        )
        paths, _, plots = search_benchmark(settings)
    return [*paths, *plots]


def run_embed_suite(request: BenchRequest) -> list[Path]:
    from snapbuy.bench.embed_suite import embed_benchmark
    from snapbuy.embed.backends import TORCH
    from snapbuy.loading import settings_embedder

    settings = request.settings
    spec = request.model or SPEED_MODEL_SPEC
    embedder = settings_embedder(spec, settings)
    # The plain script's model: the same weights in torch float32, whatever backend is benchmarked.
    reference = (
        embedder
        if settings.backend == TORCH
        else settings_embedder(spec, settings.model_copy(update={"backend": TORCH}))
    )
    with tempfile.TemporaryDirectory(prefix="snapbuy-embed-") as tmp:
        if request.photos is not None:
            photos = jpeg_files(request.photos)
        else:
            _, photos = _shop(Path(tmp), 40, 16 if request.quick else 64)
        paths, _ = embed_benchmark(
            embedder,
            photos,
            request.out,
            crop_scales=settings.crop_scales,
            reference=reference,
            rounds=1 if request.quick else 3,
        )
    return list(paths)


def jpeg_files(folder: Path) -> list[Path]:
    """The JPEG files directly in `folder`, in name order; an error when there are none."""
    if not folder.is_dir():
        raise InvalidParameterError(f"--photos {folder} is not a folder")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg") and p.is_file())
    if not photos:
        raise InvalidParameterError(f"--photos {folder} holds no .jpg or .jpeg files")
    return photos


def run_api_suite(request: BenchRequest) -> list[Path]:
    from snapbuy.bench.api_suite import api_benchmark
    from snapbuy.indexing import IndexingOptions, build_index
    from snapbuy.loading import settings_embedder

    settings, quick = request.settings, request.quick
    spec = request.model or SPEED_MODEL_SPEC
    embedder = settings_embedder(spec, settings)
    with tempfile.TemporaryDirectory(prefix="snapbuy-api-") as tmp:
        catalog, photos = _shop(Path(tmp) / "shop", 60 if quick else 200, 16)
        index = Path(tmp) / "index"
        build_index(catalog, index, embedder, IndexingOptions(batch_size=settings.batch_size))
        paths, _ = api_benchmark(
            index,
            [p.read_bytes() for p in photos],
            request.out,
            concurrency=(1, 4) if quick else (1, 4, 8),
            requests=12 if quick else 40,
            env={"SNAPBUY_MODELS_DIR": str(settings.models_dir.resolve())},
        )
    return list(paths)


def run_ingest_suite(request: BenchRequest) -> list[Path]:
    from snapbuy.bench.ingest_suite import ingest_benchmark
    from snapbuy.loading import settings_embedder

    settings = request.settings
    spec = request.model or SPEED_MODEL_SPEC
    embedder = settings_embedder(spec, settings)
    products = request.size or (500 if request.quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="snapbuy-ingest-") as tmp:
        paths, _ = ingest_benchmark(embedder, products, Path(tmp), request.out, settings.batch_size)
    return list(paths)


def run_server_suite(request: BenchRequest) -> list[Path]:
    from snapbuy.bench.server_suite import server_benchmark
    from snapbuy.loading import settings_embedder

    settings = request.settings
    spec = request.model or SPEED_MODEL_SPEC
    embedder = settings_embedder(spec, settings)
    with tempfile.TemporaryDirectory(prefix="snapbuy-server-") as tmp:
        catalog, photos = _shop(Path(tmp) / "shop", 40, 4)
        paths, _ = server_benchmark(
            embedder, catalog, photos[0].read_bytes(), Path(tmp), request.out, request.quick
        )
    return list(paths)


def run_query_suite(request: BenchRequest) -> list[Path]:
    import torch

    from snapbuy.bench.api_suite import serve_and_time
    from snapbuy.bench.query_suite import ServerFigures, bare_forwards, write_query_results
    from snapbuy.embed.backends import BACKENDS, TORCH, emulated_precision
    from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, load_image_file
    from snapbuy.indexing import IndexingOptions, build_index
    from snapbuy.loading import settings_embedder
    from snapbuy.localiser import ProductLocaliser
    from snapbuy.train.localiser_only import train_localiser_only

    settings, quick = request.settings, request.quick
    spec = request.model or SPEED_MODEL_SPEC
    concurrency = (1, 4, 8, 16)
    requests = 16 if quick else 48
    rounds = 1 if quick else 3  # the levels in turn, medians: one client's rate drifted 20 % run to run
    with tempfile.TemporaryDirectory(prefix="snapbuy-query-") as tmp:
        catalog, photos = _shop(Path(tmp) / "shop", 60 if quick else 120, 24 if quick else 48)
        graphs = Path(tmp) / "graphs"
        # Half precision that this CPU only emulates would be timed at a fraction of float32's speed.
        not_timed = {b: why for b in BACKENDS if (why := emulated_precision(b, torch.device("cpu")))}
        timed = [b for b in BACKENDS if b not in not_timed]
        request.say(f"timing the bare image-tower forward under {', '.join(timed)}")
        forwards = bare_forwards(spec, settings.models_dir, graphs, timed, 10 if quick else 30)
        request.say("training the product localiser on the shop's cut-outs")
        trained = train_localiser_only(
            catalog, Path(tmp) / "shop.localiser.pt", minutes=0.5 if quick else 1.5, device="cpu"
        )
        localiser = ProductLocaliser.load(trained.path)
        found = sum(
            localiser.find(
                load_image_file(p, max_bytes=LOCAL_FILE_MAX_BYTES, max_pixels=LOCAL_FILE_MAX_PIXELS)
            )
            is not None
            for p in photos
        )
        index = Path(tmp) / "index"
        build_index(catalog, index, settings_embedder(spec, settings), IndexingOptions(batch_size=32))
        fastest = min((f for f in forwards if f.backend != TORCH), key=lambda f: f.batch1_ms).backend
        env = {
            "SNAPBUY_MODELS_DIR": str(settings.models_dir.resolve()),
            "SNAPBUY_LOCALISER": str(trained.path),
            "SNAPBUY_GRAPH_CACHE": str(graphs),
        }
        uploads = [p.read_bytes() for p in photos]
        servers = []
        for backend in (TORCH, fastest):
            request.say(f"photo uploads at {concurrency} clients, backend {backend}")
            levels = serve_and_time(
                index, uploads, {**env, "SNAPBUY_BACKEND": backend}, concurrency, requests, rounds=rounds
            )
            servers.append(ServerFigures(backend, levels))
        figures = {
            "model": spec,
            "photos": len(photos),
            "requests_per_level": requests,
            "rounds": rounds,
            "localiser_steps": trained.steps,
            "photos_where_the_localiser_finds_a_box": f"{found}/{len(photos)}",
            "torch_threads": torch.get_num_threads(),
            "backends_not_timed": not_timed,
        }
        return list(write_query_results(request.out, forwards, servers, figures))


def run_quality_suite(request: BenchRequest) -> list[Path]:
    from snapbuy.bench.quality_suite import quality_benchmark

    products, minutes = (200, 1.0) if request.quick else (1000, None)
    paths, _ = quality_benchmark(request.settings, products, minutes, request.out, request.say)
    return list(paths)


def run_gpu_suite(request: BenchRequest) -> list[Path]:
    from snapbuy.bench.gpu_suite import gpu_benchmark

    paths, _, _ = gpu_benchmark(request.skus, request.batch, request.batches, request.out)
    return list(paths)


def bench_suites() -> dict[str, BenchSuite]:
    """Every suite by name, in the order `make bench` runs them."""
    suites = (
        BenchSuite(
            "search", "full-answer latency, recall and memory per index type at 1M SKUs", run_search_suite
        ),
        BenchSuite(
            "embed", "images/s decoding and embedding phone photos; one shopper query's cost", run_embed_suite
        ),
        BenchSuite("api", "photo uploads to a real `snapbuy serve` at 1, 4 and 8 clients", run_api_suite),
        BenchSuite(
            "query",
            "the real architecture's query cost: bare forward per backend, then photo uploads with the "
            "localiser at 1, 4, 8 and 16 clients, as multiples of the float32 forward",
            run_query_suite,
        ),
        BenchSuite(
            "ingest",
            "indexing a feed of http image links from loopback: first run, unchanged and 1 % changed "
            "re-runs, against local files",
            run_ingest_suite,
        ),
        BenchSuite(
            "server",
            "a real `snapbuy serve` under abuse: memory over adversarial uploads, /livez under upload "
            "load, a live index swap under 32 clients",
            run_server_suite,
        ),
        BenchSuite(
            "quality", "the demo's end-to-end evaluation with the machine and the floors", run_quality_suite
        ),
        BenchSuite("gpu", "batched exact search on a GPU against faiss flat on the CPU", run_gpu_suite),
    )
    return {suite.name: suite for suite in suites}


def bench_suite(name: str) -> BenchSuite:
    suites = bench_suites()
    if name not in suites:
        raise InvalidParameterError(f"unknown bench suite {name!r}; available: {', '.join(suites)}")
    return suites[name]
