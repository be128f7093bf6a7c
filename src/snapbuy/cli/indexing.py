"""`snapbuy index` and `snapbuy embed`: a feed into an index bundle, images into vectors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
import typer

from snapbuy.cli.common import IndexOpt, ModelOpt, reports_errors, settings_with
from snapbuy.config import DEFAULT_MODEL_SPEC

if TYPE_CHECKING:
    from snapbuy.indexing import IndexingReport


@reports_errors
def index_command(
    feed: Annotated[
        str,
        typer.Argument(
            help="product feed: a file or an http(s) URL; CSV, TSV, JSONL, GMC/Meta RSS or Atom XML, "
            "a Shopify product export, or any of them gzipped",
            show_default=False,
        ),
    ],
    index: IndexOpt,
    model: Annotated[
        str | None, typer.Option("--model", help=f"model spec ARCH[:WEIGHTS] (default {DEFAULT_MODEL_SPEC})")
    ] = None,
    feed_format: Annotated[
        str | None,
        typer.Option(
            "--format", help="csv | tsv | jsonl | xml | shopify (default: detected from the content)"
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency",
            help="the feed's ISO 4217 currency, for bare numbers and symbols like $ or kr "
            "(required for Shopify exports)",
        ),
    ] = None,
    image_root: Annotated[
        Path | None,
        typer.Option(
            "--image-root", help="local image paths must lie inside this folder (default: the feed's)"
        ),
    ] = None,
    image_cache: Annotated[
        Path | None,
        typer.Option(
            "--image-cache", help="where downloaded images are cached (default: INDEX/.cache/images)"
        ),
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
    wait_for_lock: Annotated[
        float,
        typer.Option(
            "--wait-for-lock",
            min=0,
            help="seconds to wait when another run is indexing into the same index (default 0: refuse)",
        ),
    ] = 0.0,
    thumbnail_side: Annotated[
        int | None,
        typer.Option(
            "--thumbnail-side",
            min=0,
            help="longest side in pixels of the thumbnails of local product images stored in the index "
            "for the phone page; 0: none (default 320)",
        ),
    ] = None,
    engine: Annotated[
        Literal["local", "ray"],
        typer.Option(
            "--engine",
            help="what fetches, decodes and embeds the images: local (this process) or ray (a Ray Data "
            "pipeline on a local runtime or a cluster; pip install 'snapbuy[ray]'; docs/distributed.md)",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="with --engine ray: the Ray cluster to join, e.g. ray://head:10001 or auto "
            "(default: RAY_ADDRESS, else a new local runtime)",
        ),
    ] = None,
    ray_actors: Annotated[
        int | None,
        typer.Option(
            "--ray-actors",
            min=1,
            help="with --engine ray: embedding actors, each loading the model once "
            "(default: one per GPU Ray reports, else one per CPU)",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
) -> None:
    """Index a product feed into a new version of an index bundle and make it live."""
    from snapbuy.cli.progress import indexing_progress
    from snapbuy.fetching import FetchPolicy
    from snapbuy.index import parse_size
    from snapbuy.indexing import IndexingOptions, ModelSource, build_index, check_engine_options
    from snapbuy.loading import settings_embedder
    from snapbuy.tiers import parse_tier_bounds

    settings = settings_with(
        batch_size=batch_size,
        index_type=index_type,
        index_memory_budget=memory_budget,
        catalog_views=catalog_views,
    )
    cuts = parse_tier_bounds(tier_bounds) if tier_bounds else None
    budget = parse_size(settings.index_memory_budget) if settings.index_memory_budget else None
    spec = model or settings.model or DEFAULT_MODEL_SPEC
    options = IndexingOptions(
        batch_size=settings.batch_size,
        skip_invalid=skip_invalid,
        tier_cuts=cuts,
        decode_workers=settings.decode_workers,
        keep_versions=keep_versions,
        index_type=settings.index_type,
        memory_budget=budget,
        catalog_views=settings.catalog_views,
        feed_format=feed_format,
        currency=currency,
        image_root=image_root,
        image_cache=image_cache,
        fetch=FetchPolicy(
            max_bytes=settings.max_catalog_image_bytes,
            connect_timeout=settings.fetch_connect_timeout,
            read_timeout=settings.fetch_read_timeout,
            per_host=settings.fetch_per_host,
            retries=settings.fetch_retries,
        ),
        max_image_bytes=settings.max_catalog_image_bytes,
        lock_wait_seconds=wait_for_lock,
        engine=engine,
        ray_address=ray_address,
        ray_actors=ray_actors,
        # Absolute paths: the Ray engine's actors may run in other folders, or on other nodes.
        model_source=ModelSource(
            spec=spec,
            models_dir=settings.models_dir.resolve(),
            allow_download=settings.allow_download,
            backend=settings.backend,
            graph_cache=settings.graph_cache_dir.resolve(),
        ),
    )
    if thumbnail_side is not None:  # else IndexingOptions' own default
        options = replace(options, thumbnail_side=thumbnail_side)
    check_engine_options(options)  # before minutes of model loading: Ray missing, Ray options without it
    embedder = settings_embedder(spec, settings)
    progress = indexing_progress(quiet)
    if progress is None:
        report = build_index(feed, index, embedder, options)
    else:
        with progress:
            report = build_index(feed, index, embedder, options, progress)
    _print_summary(report, spec, settings.catalog_views, engine)


def _print_summary(report: IndexingReport, spec: str, catalog_views: int, engine: str) -> None:
    counts = report.images
    typer.echo(
        f"indexed {report.products} products ({report.vectors} images) into {report.path} "
        f"in {report.seconds:.1f} s with model {spec}"
        + (f", {catalog_views} catalog views per image" if catalog_views else "")
        + (" on the Ray engine" if engine == "ray" else "")
    )
    typer.echo(
        f"images: {counts.embedded} embedded, {counts.reused} reused, {counts.failed} failed; "
        f"downloads: {counts.downloaded} ({counts.bytes_transferred / 1e6:.1f} MB), "
        f"{counts.revalidated} unchanged (revalidated); thumbnails: {report.thumbnails}"
    )
    if report.out_of_stock:
        typer.echo(f"{report.out_of_stock} products are out of stock: kept, but not returned by default")
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
    from snapbuy.atomic import write_file_atomically
    from snapbuy.bundle import open_current
    from snapbuy.imaging import load_image_file
    from snapbuy.loading import settings_embedder

    settings = settings_with()
    bundle = open_current(index)
    embedder = settings_embedder(model or bundle.manifest.model.spec, settings)
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
    write_file_atomically(out, lambda handle: np.save(handle, vectors))
    typer.echo(f"wrote {vectors.shape[0]} x {vectors.shape[1]} embeddings to {out}")
