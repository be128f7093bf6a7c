"""The `quality` suite: the demo's end-to-end evaluation with its training path (demo shop -> model
trained here -> index -> shopper photos drawn as the training views are, and held-out ones), with the
machine, the settings and the floors beside the figures."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from snapbuy.bench.report import machine
from snapbuy.config import Settings
from snapbuy.demo.run import (
    FLOORS,
    HELD_OUT_FLOORS,
    HELD_OUT_PHOTOS,
    DemoOptions,
    DemoOutcome,
    Say,
    run_demo,
    training_minutes,
)
from snapbuy.results import write_results
from snapbuy.train.device import training_device
from snapbuy.train.localiser_process import trains_beside_model


def quality_benchmark(
    settings: Settings,
    products: int,
    train_minutes: float | None,
    out_dir: Path,
    say: Say,
    seed: int = 0,
    *,
    train_max_steps: int | None = None,
    localiser_max_steps: int | None = None,
    held_out_photos: int = HELD_OUT_PHOTOS,
) -> tuple[tuple[Path, Path], DemoOutcome]:
    """Everything the run makes (shop, model when one is trained, index) lives in a temporary folder;
    the product default model is used when its weights are in settings.models_dir, as in the demo.
    `train_minutes` None: the demo's; the product localiser gets the demo's share of the time. Either
    training also ends after its max steps when given and they come first."""
    train_minutes, localiser_minutes = training_minutes(
        train_minutes, None, trains_beside_model(training_device(None))
    )
    with tempfile.TemporaryDirectory(prefix="snapbuy-quality-") as tmp:
        work = Path(tmp)
        options = DemoOptions(
            workdir=work / "shop",
            index=work / "index",
            model_name=str(work / "quality-clip.pt"),  # absolute: stays out of models/
            results=work / "results",
            products=products,
            seed=seed,
            train_minutes=train_minutes,
            localiser_minutes=localiser_minutes,
            train_max_steps=train_max_steps,
            localiser_max_steps=localiser_max_steps,
            retrain=True,
            held_out_photos=held_out_photos,
        )
        outcome = run_demo(settings, options, say)
    report, held_out = outcome.report, outcome.held_out
    payload: dict[str, Any] = {
        "suite": "quality",
        "machine": machine(),
        "settings": {
            "products": products,
            "train_minutes": train_minutes,
            "localiser_minutes": round(localiser_minutes, 3),
            "train_max_steps": train_max_steps,
            "localiser_max_steps": localiser_max_steps,
            "seed": seed,
        },
        "model": outcome.model_spec,
        "model_reason": outcome.reason,
        "queries": report.queries,
        "metrics": report.metrics,
        "floors": FLOORS,
        "held_out_queries": held_out.queries if held_out else 0,
        "held_out_metrics": held_out.metrics if held_out else None,
        "held_out_floors": HELD_OUT_FLOORS,
        "latency_ms": report.latency_ms,
        "seconds": round(outcome.seconds, 1),
    }
    held_metrics = held_out.metrics if held_out else {}
    lines = [
        f"# snapbuy bench: quality (demo shop of {products} SKUs, {report.queries} in-distribution and "
        f"{held_out.queries if held_out else 0} held-out shopper photos)",
        "",
        f"Model: {outcome.model_spec} ({outcome.reason}). Whole run: {outcome.seconds:.0f} s.",
        "",
        "| metric | held out | floor | in distribution | floor |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {held_metrics[name]:.3f} | {HELD_OUT_FLOORS.get(name, '')} "
            f"| {value:.3f} | {FLOORS.get(name, '')} |"
            if name in held_metrics
            else f"| {name} | | | {value:.3f} | {FLOORS.get(name, '')} |"
            for name, value in report.metrics.items()
        ),
        "",
        f"Latency per photo: p50 {report.latency_ms['p50']:.0f} ms.",
    ]
    return write_results(out_dir, "quality", payload, "\n".join(lines) + "\n"), outcome
