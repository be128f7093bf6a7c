"""`snapbuy eval` and `snapbuy bench`: retrieval quality and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from snapbuy.cli.common import (
    IndexOpt,
    ModelOpt,
    ProgressPrinter,
    print_results,
    reports_errors,
    settings_with,
)
from snapbuy.config import SPEED_MODEL_SPEC


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
    colour_words: Annotated[
        bool,
        typer.Option(
            "--colour-words",
            help="instead: how often 'in <colour>' with the photo brings that colour of its design "
            "(demo shop titles end in ', <colour>'), photo alone against several text weights",
        ),
    ] = False,
    several: Annotated[
        Path | None,
        typer.Option(
            "--several",
            help="instead: per-product recall on the demo's photos of several products (several.csv "
            "from `snapbuy demo-data --several N`), and answers for absent products on QUERIES' photos",
        ),
    ] = None,
) -> None:
    """Retrieval quality on shopper photos with known answers: recall@1/@10, category accuracy, tiers."""
    from snapbuy.evaluation import evaluate, write_report
    from snapbuy.loading import open_service

    service = open_service(index, settings_with(), model)
    if several is not None:
        from snapbuy.demo.several_products import outcomes_markdown as several_markdown
        from snapbuy.demo.several_products import several_products_recall

        photos, products, per_threshold = several_products_recall(
            service, several, queries, limit=limit, progress=ProgressPrinter("photos")
        )
        typer.echo(several_markdown(photos, products, True, per_threshold))
        return
    if colour_words:
        from snapbuy.demo.colour_words import colour_words_effect, outcomes_markdown

        asked, outcomes = colour_words_effect(
            service, queries, limit=limit, progress=ProgressPrinter("asking for colours")
        )
        typer.echo(outcomes_markdown(asked, outcomes))
        return
    report = evaluate(service, queries, limit=limit, progress=ProgressPrinter("evaluating"))
    json_path, md_path = write_report(report, out, "eval")
    typer.echo(report.to_markdown())
    typer.echo(f"wrote {json_path} and {md_path}")


@reports_errors
def bench_command(
    suite: Annotated[
        str, typer.Argument(help="benchmark suite: search, embed, api, ingest, server, quality or gpu")
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
    photos: Annotated[
        Path | None,
        typer.Option("--photos", help="embed suite: a folder of JPEG photos to embed (default: drawn ones)"),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="gpu suite: queries per batch")] = 1024,
    batches: Annotated[int, typer.Option("--batches", min=1, help="gpu suite: timed batches")] = 20,
    out: Annotated[Path, typer.Option("--out", help="folder for the JSON, Markdown and PNG results")] = Path(
        "bench-results"
    ),
) -> None:
    """Benchmarks, every comparison measured side by side in one run. Results go to OUT/<suite>-<time>."""
    from snapbuy.bench.suites import BenchRequest, bench_suite

    request = BenchRequest(
        settings=settings_with(),
        out=out,
        quick=quick,
        size=size,
        queries=queries,
        repeats=repeats,
        index_types=tuple(index_types or ()),
        spectrum=spectrum,
        model=model,
        photos=photos,
        batch=batch,
        batches=batches,
        say=typer.echo,
    )
    json_path, md_path, *more = bench_suite(suite).run(request)
    print_results(json_path, md_path, *more)
