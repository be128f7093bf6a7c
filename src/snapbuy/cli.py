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
from snapbuy.config import DEFAULT_MODEL_SPEC, Settings, get_settings
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
) -> None:
    """Index a catalog feed into a new version of an index bundle and make it live."""
    from snapbuy.embed.openclip import load_embedder
    from snapbuy.indexing import IndexingOptions, build_index
    from snapbuy.tiers import parse_tier_bounds

    settings = _settings(batch_size=batch_size)
    cuts = parse_tier_bounds(tier_bounds) if tier_bounds else None
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
    )
    report = build_index(catalog, index, embedder, options, progress=ProgressPrinter("embedding"))
    typer.echo(
        f"indexed {report.products} products ({report.vectors} images) into {report.path} "
        f"in {report.seconds:.1f} s with model {spec}"
    )
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
    model: ModelOpt = None,
) -> None:
    """Search an index with a photo: best matches plus the closest SKUs in each price tier."""
    from snapbuy.api.schemas import SearchResponse
    from snapbuy.imaging import load_image_file
    from snapbuy.loading import open_service
    from snapbuy.search import SearchOptions

    settings = _settings()
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
    model: ModelOpt = None,
) -> None:
    """Serve the HTTP API (POST /v1/search, GET /v1/products/{sku}/similar, /readyz, ...)."""
    import uvicorn

    from snapbuy.api import create_app
    from snapbuy.loading import open_service

    settings = _settings(index=index, host=host, port=port, model=model)
    # Load before binding the port: a bad index or missing weights is a clean error, not a dead server.
    service = open_service(index, settings, model)
    typer.echo(f"serving index {service.bundle.manifest.version} on http://{settings.host}:{settings.port}")
    try:
        uvicorn.run(create_app(settings, service), host=settings.host, port=settings.port, log_level="info")
    finally:
        service.close()


@app.command("version")
def version_command() -> None:
    """Print the snapbuy version."""
    typer.echo(__version__)


def main() -> None:
    app()


__all__ = ["app", "main"]
