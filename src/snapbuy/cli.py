"""Command line: snapbuy index | search | embed | serve."""

from __future__ import annotations

import functools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import typer

from snapbuy import __version__
from snapbuy.config import DEFAULT_MODEL_SPEC, SPEED_MODEL_SPEC, Settings, get_settings
from snapbuy.errors import SnapbuyError

app = typer.Typer(
    name="snapbuy",
    help="Visual search for shops: index a catalog, search it with a photo, serve the HTTP API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("snapbuy")
F = TypeVar("F", bound=Callable[..., Any])

IndexOpt = Annotated[Path, typer.Option("--index", help="index folder (holds CURRENT and versions)")]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="model spec ARCH[:WEIGHTS]; default: the index's own model"),
]


def reports_errors(command: F) -> F:
    """Turn snapbuy errors into one clear line on stderr and the error's exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SnapbuyError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(exc.exit_code) from exc

    return wrapper  # type: ignore[return-value]


def _settings(**overrides: Any) -> Settings:
    base = get_settings()
    return base.model_copy(update={k: v for k, v in overrides.items() if v is not None})


class ProgressPrinter:
    """At most one progress line every `every` seconds on stderr, plus the final one."""

    def __init__(self, label: str, every: float = 2.0) -> None:
        self.label, self.every = label, every
        self.started = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.last < self.every:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        typer.echo(f"{self.label}: {done}/{total} images ({rate:.1f}/s)", err=True)


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is noise


@app.command("index")
@reports_errors
def index_command(
    catalog: Annotated[Path, typer.Argument(help="product feed: .csv, .tsv/.txt or .jsonl")],
    index: IndexOpt,
    model: Annotated[
        str | None, typer.Option("--model", help=f"model spec ARCH[:WEIGHTS] (default {DEFAULT_MODEL_SPEC})")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="images per model call")
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="skip bad rows (written to rejects.csv) instead of stopping"),
    ] = False,
    tier_bounds: Annotated[
        str | None,
        typer.Option(
            "--tier-bounds", help="global price cut points, e.g. 500,2000 (default: per-category tertiles)"
        ),
    ] = None,
    keep_versions: Annotated[
        int, typer.Option("--keep-versions", min=1, help="index versions kept on disk, the new one included")
    ] = 3,
    index_type: Annotated[
        str | None,
        typer.Option(
            "--index-type",
            help="auto | flat | ivf | ivfpq | hnsw | a faiss factory string such as IVF4096,SQ8 "
            "(default: auto, from catalog size and --memory-budget)",
        ),
    ] = None,
    memory_budget: Annotated[
        str | None,
        typer.Option("--memory-budget", help="RAM the index may use, e.g. 2GB (default: no limit)"),
    ] = None,
    catalog_views: Annotated[
        int | None,
        typer.Option(
            "--catalog-views",
            min=0,
            help="synthetic shopper-photo views of each catalog image folded into its vector "
            "(default 0: off; the demo uses 16)",
        ),
    ] = None,
) -> None:
    """Index a catalog feed into a new version of an index bundle and make it live."""
    from snapbuy.embed.openclip import load_embedder
    from snapbuy.index import parse_size
    from snapbuy.indexing import IndexingOptions, build_index
    from snapbuy.tiers import parse_tier_bounds

    settings = _settings(
        batch_size=batch_size,
        index_type=index_type,
        index_memory_budget=memory_budget,
        catalog_views=catalog_views,
    )
    cuts = parse_tier_bounds(tier_bounds) if tier_bounds else None
    budget = parse_size(settings.index_memory_budget) if settings.index_memory_budget else None
    spec = model or settings.model or DEFAULT_MODEL_SPEC
    embedder = load_embedder(
        spec, models_dir=settings.models_dir, device=settings.device, allow_download=settings.allow_download
    )
    options = IndexingOptions(
        batch_size=settings.batch_size,
        skip_invalid=skip_invalid,
        tier_cuts=cuts,
        decode_workers=settings.decode_workers,
        keep_versions=keep_versions,
        index_type=settings.index_type,
        memory_budget=budget,
        catalog_views=settings.catalog_views,
    )
    report = build_index(catalog, index, embedder, options, progress=ProgressPrinter("embedding"))
    typer.echo(
        f"indexed {report.products} products ({report.vectors} images) into {report.path} "
        f"in {report.seconds:.1f} s with model {spec}"
        + (f", {settings.catalog_views} catalog views per image" if settings.catalog_views else "")
    )
    typer.echo(f"index type: {report.index_description}")
    if report.rejected_rows:
        typer.echo(f"skipped {report.rejected_rows} invalid rows: see {report.rejects_file}")
    if report.image_problems:
        typer.echo(
            f"{len(report.image_problems)} images could not be used; {report.products_without_images} "
            f"products left out: see {report.image_errors_file}"
        )
        for problem in report.image_problems[:5]:
            typer.echo(f"  line {problem.line} sku {problem.sku}: {problem.reason}", err=True)


def _bound(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _print_result(result: Any) -> None:
    typer.echo(f"category: {result.category} ({result.category_source})   model: {result.model}")
    rows = [("matches", result.matches)] + [
        (f"{t.name} [{_bound(t.min_price)}, {_bound(t.max_price)})", t.items) for t in result.tiers
    ]
    for heading, items in rows:
        typer.echo(heading)
        for item in items:
            typer.echo(
                f"  {item.score:7.4f}  {item.sku:<16} {item.price:>10.2f} {item.currency}  {item.title}"
            )


@app.command("search")
@reports_errors
def search_command(
    image: Annotated[Path, typer.Argument(help="photo to search with")],
    index: IndexOpt,
    k: Annotated[int, typer.Option("-k", min=1, help="results per list")] = 4,
    category: Annotated[str | None, typer.Option("--category", help="category (default: predicted)")] = None,
    min_price: Annotated[float | None, typer.Option("--min-price", min=0)] = None,
    max_price: Annotated[float | None, typer.Option("--max-price", min=0)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the API's JSON response")] = False,
    device: Annotated[
        str | None,
        typer.Option("--device", help="cpu or cuda: where the model and the similarity search run"),
    ] = None,
    model: ModelOpt = None,
) -> None:
    """Search an index with a photo: best matches plus the closest SKUs in each price tier."""
    from snapbuy.api.schemas import SearchResponse
    from snapbuy.imaging import load_image_file
    from snapbuy.loading import open_service
    from snapbuy.search import SearchOptions

    settings = _settings(device=device)
    picture = load_image_file(
        image, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels
    )
    service = open_service(index, settings, model)
    result = service.search_image(picture, SearchOptions(k, category, min_price, max_price))
    if as_json:
        typer.echo(SearchResponse.of(result).model_dump_json(indent=2))
    else:
        _print_result(result)


@app.command("embed")
@reports_errors
def embed_command(
    images: Annotated[list[Path], typer.Argument(help="images to embed")],
    index: IndexOpt,
    out: Annotated[
        Path, typer.Option("--out", help="output .npy: float32 rows, L2-normalised, in argument order")
    ],
    model: ModelOpt = None,
) -> None:
    """Embed images with the index's model into a .npy file."""
    from snapbuy.bundle import open_current
    from snapbuy.embed.openclip import load_embedder
    from snapbuy.imaging import load_image_file

    settings = _settings()
    bundle = open_current(index)
    embedder = load_embedder(
        model or bundle.manifest.model.spec,
        models_dir=settings.models_dir,
        device=settings.device,
        allow_download=settings.allow_download,
    )
    bundle.check_model(embedder.identity)
    pictures = [
        load_image_file(p, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels)
        for p in images
    ]
    rows = [
        embedder.embed_images(pictures[i : i + settings.batch_size])
        for i in range(0, len(pictures), settings.batch_size)
    ]
    vectors = np.concatenate(rows).astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".npy.tmp")
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, vectors)
    os.replace(tmp, out)
    typer.echo(f"wrote {vectors.shape[0]} x {vectors.shape[1]} embeddings to {out}")


@app.command("serve")
@reports_errors
def serve_command(
    index: IndexOpt,
    host: Annotated[str | None, typer.Option("--host", help="bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="port (default 8000)")] = None,
    device: Annotated[
        str | None,
        typer.Option("--device", help="cpu or cuda: where the model and the similarity search run"),
    ] = None,
    model: ModelOpt = None,
) -> None:
    """Serve the HTTP API (POST /v1/search, GET /v1/products/{sku}/similar, /readyz, ...)."""
    _serve(index, _settings(index=index, host=host, port=port, model=model, device=device), model)


def _serve(index: Path, settings: Settings, model: str | None) -> None:
    import uvicorn

    from snapbuy.api import create_app
    from snapbuy.loading import open_service

    # Load before binding the port: a bad index or missing weights is a clean error, not a dead server.
    service = open_service(index, settings, model)
    typer.echo(f"serving index {service.bundle.manifest.version} on http://{settings.host}:{settings.port}")
    try:
        uvicorn.run(create_app(settings, service), host=settings.host, port=settings.port, log_level="info")
    finally:
        service.close()


@app.command("demo-data")
@reports_errors
def demo_data_command(
    out: Annotated[Path, typer.Argument(help="folder for catalog.csv, images/, queries/ and queries.csv")],
    products: Annotated[int, typer.Option("--products", min=20, help="number of SKUs")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="same seed, same shop")] = 0,
    queries: Annotated[
        int | None, typer.Option("--queries", min=1, help="shopper photos (default: one per SKU)")
    ] = None,
) -> None:
    """Generate the demo shop: a drawn catalog (NOK, 10 categories) and shopper photos with ground truth."""
    from snapbuy.demo.generate import write_demo_data

    report = write_demo_data(out, products, seed, queries, progress=ProgressPrinter("shopper photos"))
    typer.echo(
        f"wrote {report.products} SKUs in {report.groups} designs to {out / 'catalog.csv'} and "
        f"{report.queries} shopper photos to {out / 'queries.csv'}"
    )


@app.command("train")
@reports_errors
def train_command(
    catalog: Annotated[Path, typer.Argument(help="catalog feed whose images and titles to train on")],
    out: Annotated[
        Path, typer.Option("--out", help="checkpoint to write, e.g. models/shop.pt (+ shop.json config)")
    ],
    init: Annotated[
        str | None, typer.Option("--init", help="start from this model spec's weights (fine-tuning)")
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option("--arch", help="architecture for training from scratch (default: the demo's)"),
    ] = None,
    minutes: Annotated[
        float, typer.Option("--minutes", min=0.05, help="training time budget of the CLIP model")
    ] = 4.0,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", min=1, help="also stop the CLIP model's training after this many steps"),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=2, help="shopper-photo views per step")
    ] = 200,
    localiser_minutes: Annotated[
        float,
        typer.Option(
            "--localiser-minutes",
            min=0.0,
            help="time for the product localiser (drawing its training scenes included), written as "
            "OUT's NAME.localiser.pt (0: none); on a CPU it trains beside the model in a second "
            "process, on a GPU before it",
        ),
    ] = 1.5,
    localiser_max_steps: Annotated[
        int | None,
        typer.Option("--localiser-max-steps", min=1, help="also stop the localiser's after this many steps"),
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(
            "--learning-rate",
            help="peak AdamW learning rate (default: 5e-3 from scratch, 1e-5 when fine-tuning "
            "--init weights)",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: Annotated[
        str | None,
        typer.Option("--device", help="cpu or cuda (default: the GPU when torch sees one, else the CPU)"),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            help="auto, fp32 or bf16: bf16 runs the forward passes in bfloat16 autocast; auto picks it "
            "where the device computes bfloat16 natively (AMX or AVX512-BF16 CPUs, most CUDA GPUs)",
        ),
    ] = "auto",
) -> None:
    """Contrastive training (image <-> title, image <-> shopper-photo view) of an open_clip model,
    and a product localiser that finds the product in a shopper photo."""
    from snapbuy.train.trainer import StepPrinter, TrainOptions, train

    settings = _settings()
    report = train(
        catalog,
        out,
        init=init,
        arch=arch,
        models_dir=settings.models_dir,
        allow_download=settings.allow_download,
        options=TrainOptions(
            minutes=minutes,
            max_steps=max_steps,
            batch_size=batch_size,
            localiser_minutes=localiser_minutes,
            localiser_max_steps=localiser_max_steps,
            learning_rate=learning_rate,
            seed=seed,
            device=device,
            precision=precision,
        ),
        progress=StepPrinter(lambda line: typer.echo(line, err=True), every=15),
    )
    typer.echo(
        f"trained {report.steps} steps in {report.seconds:.0f} s on {report.products} products "
        f"(loss {report.first_loss:.2f} -> {report.last_loss:.2f}); use it with --model {report.spec}"
    )
    if report.localiser is not None:
        typer.echo(f"product localiser: {report.localiser} (search uses it with that model)")


@app.command("eval")
@reports_errors
def eval_command(
    queries: Annotated[Path, typer.Argument(help="queries.csv: image,sku,item_group_id,category[,families]")],
    index: IndexOpt,
    out: Annotated[Path, typer.Option("--out", help="folder for the JSON and Markdown reports")] = Path(
        "bench-results"
    ),
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="evaluate only the first N photos")
    ] = None,
    model: ModelOpt = None,
) -> None:
    """Retrieval quality on shopper photos with known answers: recall@1/@10, category accuracy, tiers."""
    from snapbuy.evaluation import evaluate, write_report
    from snapbuy.loading import open_service

    service = open_service(index, _settings(), model)
    report = evaluate(service, queries, limit=limit, progress=ProgressPrinter("evaluating"))
    json_path, md_path = write_report(report, out, "eval")
    typer.echo(report.to_markdown())
    typer.echo(f"wrote {json_path} and {md_path}")


BENCH_SUITES = ("search", "embed", "api", "quality", "gpu")


def _print_results(json_path: Path, md_path: Path, *more: Path) -> None:
    typer.echo(md_path.read_text(encoding="utf-8"))
    typer.echo(f"wrote {', '.join(str(p) for p in (json_path, md_path, *more))}")


@app.command("bench")
@reports_errors
def bench_command(
    suite: Annotated[
        str, typer.Argument(help="benchmark suite: search, embed, api, quality or gpu")
    ] = "search",
    quick: Annotated[bool, typer.Option("--quick", help="100k SKUs instead of 1M: a few minutes")] = False,
    size: Annotated[int | None, typer.Option("--size", min=60, help="SKUs (overrides --quick)")] = None,
    queries: Annotated[int, typer.Option("--queries", min=5, help="queries, one at a time")] = 300,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="interleaved timing runs")] = 2,
    index_types: Annotated[
        list[str] | None,
        typer.Option(
            "--index-type",
            help="search suite: an index type to compare with flat, repeatable (default: auto, ivf, hnsw)",
        ),
    ] = None,
    spectrum: Annotated[
        str, typer.Option("--spectrum", help="synthetic vectors: decaying (CLIP-like) or flat (stress)")
    ] = "decaying",
    model: Annotated[
        str | None,
        typer.Option("--model", help=f"embed and api suites: model spec (default {SPEED_MODEL_SPEC})"),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="gpu suite: queries per batch")] = 1024,
    batches: Annotated[int, typer.Option("--batches", min=1, help="gpu suite: timed batches")] = 20,
    out: Annotated[Path, typer.Option("--out", help="folder for the JSON, Markdown and PNG results")] = Path(
        "bench-results"
    ),
) -> None:
    """Benchmarks, every comparison measured side by side in one run. Results go to OUT/<suite>-<time>."""
    from snapbuy.errors import InvalidParameterError

    if suite not in BENCH_SUITES:
        raise InvalidParameterError(f"unknown bench suite {suite!r}; available: {', '.join(BENCH_SUITES)}")
    n = size or (100_000 if quick else 1_000_000)
    if suite == "gpu":
        from snapbuy.bench.gpu_suite import gpu_benchmark

        (json_path, md_path), _, _ = gpu_benchmark(n, batch, batches, out)
        _print_results(json_path, md_path)
        return
    if suite in ("embed", "api", "quality"):
        from snapbuy.bench import suites

        runtime = _settings()
        if suite == "embed":
            json_path, md_path = suites.run_embed_suite(runtime, model, quick, out)
        elif suite == "api":
            json_path, md_path = suites.run_api_suite(runtime, model, quick, out)
        else:
            json_path, md_path = suites.run_quality_suite(runtime, quick, out, typer.echo)
        _print_results(json_path, md_path)
        return
    if spectrum not in ("decaying", "flat"):
        raise InvalidParameterError(f"--spectrum must be decaying or flat, not {spectrum!r}")
    from snapbuy.bench.search_suite import SearchBenchSettings, search_benchmark

    types = tuple(t.strip() for t in index_types or [] if t.strip())
    with tempfile.TemporaryDirectory(prefix="snapbuy-bench-") as workdir:
        settings = SearchBenchSettings(
            size=n,
            queries=queries,
            workdir=Path(workdir),
            out_dir=out,
            quick=quick,
            repeats=repeats,
            spectrum=spectrum,
            index_types=types,
        )
        (json_path, md_path), _, plots = search_benchmark(settings)
    _print_results(json_path, md_path, *plots)


@app.command("demo")
@reports_errors
def demo_command(
    workdir: Annotated[Path, typer.Option("--workdir", help="where the demo shop is generated")] = Path(
        "demo"
    ),
    products: Annotated[int, typer.Option("--products", min=20)] = 1000,
    minutes: Annotated[
        float | None,
        typer.Option(
            "--minutes",
            min=0.05,
            help="training budget for the demo model (default: 7 on a CPU, 5 on a GPU)",
        ),
    ] = None,
    localiser_minutes: Annotated[
        float | None,
        typer.Option(
            "--localiser-minutes",
            min=0.0,
            help="training budget for its product localiser, which on a CPU trains beside the model "
            "(default: --minutes on a CPU; on a GPU it trains first, for 0.4 times --minutes)",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="train even if a model for this shop exists")
    ] = False,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the API afterwards")] = True,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
) -> None:
    """The offline demo: demo shop -> (train) -> index -> evaluate -> serve. Says which model and why."""
    from snapbuy.demo.run import DemoOptions, run_demo, summary_lines

    settings = _settings(host=host, port=port)
    options = DemoOptions(
        workdir=workdir,
        products=products,
        seed=seed,
        train_minutes=minutes,
        localiser_minutes=localiser_minutes,
        retrain=retrain,
    )
    outcome = run_demo(settings, options, typer.echo)
    for line in summary_lines(outcome):
        typer.echo(line)
    if serve:
        photo = next(iter(sorted((workdir / "queries").glob("*.jpg"))), None)
        typer.echo(f"try: curl -F image=@{photo} 'http://{settings.host}:{settings.port}/v1/search?k=3'")
        _serve(options.index, settings, outcome.model_spec)


@app.command("version")
def version_command() -> None:
    """Print the snapbuy version."""
    typer.echo(__version__)


def main() -> None:
    app()


__all__ = ["app", "main"]
