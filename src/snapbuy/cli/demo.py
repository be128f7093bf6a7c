"""`snapbuy demo-data` and `snapbuy demo`: the offline demo shop and the whole demo run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from snapbuy.cli import searching
from snapbuy.cli.common import ProgressPrinter, reports_errors, settings_with


@reports_errors
def demo_data_command(
    out: Annotated[Path, typer.Argument(help="folder for catalog.csv, images/, queries/ and queries.csv")],
    products: Annotated[int, typer.Option("--products", min=20, help="number of SKUs")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="same seed, same shop")] = 0,
    queries: Annotated[
        int | None, typer.Option("--queries", min=1, help="shopper photos (default: one per SKU)")
    ] = None,
    several: Annotated[
        int,
        typer.Option(
            "--several",
            min=0,
            help="also this many photos of 2-3 products each (several.csv), for `snapbuy eval --several`",
        ),
    ] = 0,
) -> None:
    """Generate the demo shop: a drawn catalog (NOK, 10 categories) and shopper photos with ground truth."""
    from snapbuy.demo.generate import SEVERAL_FILE, write_demo_data, write_several_products_photos

    report = write_demo_data(out, products, seed, queries, progress=ProgressPrinter("shopper photos"))
    typer.echo(
        f"wrote {report.products} SKUs in {report.groups} designs to {out / 'catalog.csv'} and "
        f"{report.queries} shopper photos to {out / 'queries.csv'}"
    )
    if several:
        count = write_several_products_photos(out, products, seed, several)
        typer.echo(f"wrote {count} photos of several products each to {out / SEVERAL_FILE}")


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

    settings = settings_with(host=host, port=port)
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
        searching.serve(options.index, settings, outcome.model_spec)
