"""`snapbuy demo-data` and `snapbuy demo`: the offline demo shop and the whole demo run."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from snapbuy.cli import searching
from snapbuy.cli.common import ProgressPrinter, reports_errors, settings_with

# The demo's default number of held-out photos (demo.run.HELD_OUT_PHOTOS, which the command imports
# only when it runs).
HELD_OUT_PHOTOS = 1000

if TYPE_CHECKING:
    from snapbuy.config import Settings
    from snapbuy.demo.run import DemoOptions, PreparedDemo


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
    held_out: Annotated[
        int,
        typer.Option(
            "--held-out",
            min=0,
            help="also this many held-out shopper photos (held_out.csv) from a generator training never "
            "uses, for `snapbuy eval held_out.csv`",
        ),
    ] = 0,
) -> None:
    """Generate the demo shop: a drawn catalog (NOK, 10 categories) and shopper photos with ground truth."""
    from snapbuy.demo.generate import (
        HELD_OUT_FILE,
        SEVERAL_FILE,
        write_demo_data,
        write_held_out_photos,
        write_several_products_photos,
    )

    report = write_demo_data(out, products, seed, queries, progress=ProgressPrinter("shopper photos"))
    typer.echo(
        f"wrote {report.products} SKUs in {report.groups} designs to {out / 'catalog.csv'} and "
        f"{report.queries} shopper photos to {out / 'queries.csv'}"
    )
    if several:
        count = write_several_products_photos(out, products, seed, several)
        typer.echo(f"wrote {count} photos of several products each to {out / SEVERAL_FILE}")
    if held_out:
        count = write_held_out_photos(
            out, products, seed, held_out, progress=ProgressPrinter("held-out photos")
        )
        typer.echo(f"wrote {count} held-out shopper photos to {out / HELD_OUT_FILE}")


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
    train: Annotated[
        bool,
        typer.Option(
            "--train",
            help="train the demo model here (the whole training path, about 10 minutes on 2 cores) "
            "instead of using the demo model shipped with snapbuy; reuses one already trained on this "
            "shop in models/",
        ),
    ] = False,
    retrain: Annotated[
        bool,
        typer.Option("--retrain", help="as --train, and train anew even if models/ has one for this shop"),
    ] = False,
    held_out: Annotated[
        int,
        typer.Option("--held-out", min=0, help="held-out shopper photos to evaluate on (0: none)"),
    ] = HELD_OUT_PHOTOS,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="serve the API once the shop is indexed, evaluating in the background; --no-serve "
            "evaluates and stops",
        ),
    ] = True,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
) -> None:
    """The offline demo: demo shop -> model (shipped, or trained with --train) -> index -> serve while it
    evaluates. Says which model and why."""
    from snapbuy.demo.run import DemoOptions, demo_settings, prepare_demo, run_demo, summary_lines

    settings = settings_with(host=host, port=port)
    options = DemoOptions(
        workdir=workdir,
        products=products,
        seed=seed,
        train_minutes=minutes,
        localiser_minutes=localiser_minutes,
        train=train,
        retrain=retrain,
        held_out_photos=held_out,
    )
    if not serve:
        for line in summary_lines(run_demo(settings, options, typer.echo)):
            typer.echo(line)
        return
    # Serve as soon as the shop is indexed; the evaluation (a few minutes on 2 cores) reports while the
    # API already answers.
    prepared = prepare_demo(settings, options, typer.echo)
    # A catalog image: the shopper photos are drawn by the evaluation, after serving begins.
    photo = next(iter(sorted((workdir / "images").glob("*.jpg"))), None)
    typer.echo(
        "evaluating on the shopper photos in the background; the report follows. Meanwhile, try: "
        f"curl -F image=@{photo} 'http://{settings.host}:{settings.port}/v1/search?k=3' "
        f"or open http://{settings.host}:{settings.port}/"
    )
    threading.Thread(
        target=_report_in_background, args=(prepared, settings, options), name="demo-evaluation", daemon=True
    ).start()
    # The served index in the settings too: the server keeps its lease there.
    served = demo_settings(settings).model_copy(update={"index": options.index})
    searching.serve(options.index, served, prepared.model_spec)


def _report_in_background(prepared: PreparedDemo, settings: Settings, options: DemoOptions) -> None:
    from snapbuy.demo.run import evaluate_demo, summary_lines

    try:
        outcome = evaluate_demo(prepared, settings, options, typer.echo)
    except Exception as error:  # the server goes on; the reader learns why no report came
        typer.echo(f"the demo's evaluation failed: {error}", err=True)
        return
    for line in summary_lines(outcome):
        typer.echo(line)
