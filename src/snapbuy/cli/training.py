"""`snapbuy train`: a CLIP model and its product localiser from a catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from snapbuy.cli.common import reports_errors, settings_with

# A localiser trained this many steps frames products well enough that search embeds one view of its
# box (9,069 steps: 25 minutes on a 2-core CPU, drawing included; 1,435 steps left 3.7 points of
# recall to extra framings): docs/experiments/2026-12-04-one-view.md. The minutes only cap a slow machine.
LOCALISER_ONLY_STEPS = 9000
LOCALISER_ONLY_MINUTES = 30.0

SeedOption = Annotated[int, typer.Option("--seed")]
DeviceOption = Annotated[
    str | None,
    typer.Option("--device", help="cpu or cuda (default: the GPU when torch sees one, else the CPU)"),
]


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
    seed: SeedOption = 0,
    device: DeviceOption = None,
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

    settings = settings_with()
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


@reports_errors
def train_localiser_command(
    catalog: Annotated[Path, typer.Argument(help="catalog feed whose product images to train on")],
    out: Annotated[Path, typer.Option("--out", help="localiser to write, e.g. models/shop.localiser.pt")],
    minutes: Annotated[
        float, typer.Option("--minutes", min=0.01, help="most training time, drawing its scenes included")
    ] = LOCALISER_ONLY_MINUTES,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", min=1, help="stop after this many steps, if the minutes last that long"),
    ] = LOCALISER_ONLY_STEPS,
    seed: SeedOption = 0,
    device: DeviceOption = None,
    precision: Annotated[
        str, typer.Option("--precision", help="auto, fp32 or bf16 (as for `snapbuy train`)")
    ] = "auto",
    start_from: Annotated[
        Path | None,
        typer.Option(
            "--start-from",
            help="a localiser to go on training rather than a new one (give another --seed for new scenes)",
        ),
    ] = None,
    input_side: Annotated[
        int | None,
        typer.Option(
            "--input-side",
            help="short side, in pixels, of photos as the localiser sees them (a multiple of 8; default "
            "72); 96 finds small products more often, for about 1.7 times the training time per step",
        ),
    ] = None,
) -> None:
    """A product localiser alone, for a pretrained model (no CLIP training): it learns to find the
    catalog's products in photos from scenes drawn with their cut-outs. Search uses it when
    SNAPBUY_LOCALISER names the file."""
    from snapbuy.train.localiser_only import train_localiser_only

    report = train_localiser_only(
        catalog,
        out,
        minutes=minutes,
        max_steps=max_steps,
        seed=seed,
        device=device,
        precision=precision,
        start_from=start_from,
        input_side=input_side,
    )
    typer.echo(
        f"trained the product localiser {report.steps} steps in {report.seconds:.0f} s on "
        f"{report.products} products' cut-outs ({report.precision}, photos seen at {report.input_side} px, "
        f"loss {report.first_loss:.2f} -> "
        f"{report.last_loss:.2f}); search with it: SNAPBUY_LOCALISER={report.path}"
    )
