"""`snapbuy demo`: show snapbuy doing its real job on a fresh, offline machine.

With the product's default weights in models/ it uses them. Otherwise it generates the demo shop,
trains the demo model on it (a few minutes on 2 CPU cores), and uses that. Either way it indexes
the shop, evaluates on held-out shopper photos, prints a short report, and (optionally) serves."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from snapbuy.bundle import open_current
from snapbuy.config import DEFAULT_MODEL_SPEC, Settings
from snapbuy.demo.shipped import shipped_model
from snapbuy.embed.spec import parse_model_spec, trained_model_spec
from snapbuy.embed.weights import resolve_pretrained_tag, training_record
from snapbuy.errors import ModelError, WeightsUnavailableError
from snapbuy.evaluation import EvalReport, evaluate, write_report
from snapbuy.indexing import IndexingOptions, build_index
from snapbuy.loading import configured_localiser, configured_service, settings_embedder
from snapbuy.localiser import localiser_for
from snapbuy.train.device import training_device
from snapbuy.train.localiser_process import trains_beside_model
from snapbuy.train.precision import resolve_precision
from snapbuy.train.trainer import StepPrinter, TrainOptions, train

log = logging.getLogger(__name__)
Say = Callable[[str], None]

# The floors on the demo's own shopper photos, drawn as the training views are (in distribution), and
# on its held-out photos: backgrounds, screens and camera effects that training never saw.
FLOORS = {"group_recall@1": 0.85, "sku_recall@10": 0.95, "category_accuracy": 0.95}
HELD_OUT_FLOORS = {"group_recall@1": 0.70, "sku_recall@10": 0.90, "category_accuracy": 0.90}
HELD_OUT_PHOTOS = 1000


# Three squares around the localiser's box rather than the product default's one: with the shipped model
# on the demo's in-distribution photos, item-group recall@1 0.821 against 0.795, for 15 % more time per
# photo with this small model; the held-out photos played no part in the choice
# (docs/experiments/2026-12-05-generalising-demo.md#search-settings).
DEMO_BOX_MARGINS = (0.85, 1.1, 1.4)


def demo_settings(settings: Settings) -> Settings:
    """The demo's search settings: its box margins, unless SNAPBUY_BOX_MARGINS names others."""
    if "box_margins" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"box_margins": list(DEMO_BOX_MARGINS)})


# Synthetic shopper-photo views folded into each catalog image's vector (catalog_views.py).
DEMO_CATALOG_VIEWS = 16


@dataclass(frozen=True)
class DemoOptions:
    workdir: Path = Path("demo")
    index: Path = Path("indexes/demo")
    model_name: str = "demo-clip.pt"  # written into settings.models_dir
    results: Path = Path("bench-results")
    products: int = 1000
    seed: int = 0
    train_minutes: float | None = None  # None: training_minutes' defaults
    localiser_minutes: float | None = None
    # Each training also ends after this many steps when they come first (None: its minutes alone).
    train_max_steps: int | None = None
    localiser_max_steps: int | None = None
    train: bool = False  # train the demo model here rather than use the shipped one
    retrain: bool = False  # train even when a model trained on this shop is already in models/
    catalog_views: int = DEMO_CATALOG_VIEWS
    held_out_photos: int = HELD_OUT_PHOTOS


# The demo's training fits 7 minutes of its 10. On a CPU the localiser trains beside the model for
# the same time (its process starts a few seconds later); on a GPU it trains first, so the two share
# the 7 minutes.
MINUTES_BESIDE = 7.0
LOCALISER_SHARE_BESIDE = 1.0
MINUTES_AFTER_LOCALISER = 5.0
LOCALISER_SHARE_BEFORE = 2.0 / 5.0


def precision_note(device_type: str, precision: str) -> str | None:
    """A warning for a CPU that computes bfloat16 only in emulation, where both nets train in float32
    and fit fewer steps into the same minutes: on all but the fastest CPU measured such runs ended under
    a floor, far under on a slow one (docs/benchmarks.md#demo-quality)."""
    if device_type != "cpu" or precision == "bf16":
        return None
    return (
        "  note: this CPU has no bfloat16 arithmetic in hardware, so both nets train in float32 and fit "
        "fewer steps into the same minutes; expect lower figures than docs/demo.md reports: on all but "
        "the fastest CPU measured, float32 runs ended under a floor, far under on a slow one "
        "(docs/benchmarks.md#demo-quality)"
    )


def training_minutes(
    model_minutes: float | None, localiser_minutes: float | None, beside: bool
) -> tuple[float, float]:
    """(model, localiser) minutes: those given, else the defaults for where the localiser trains; a
    localiser time not given follows the model's, in the default proportion."""
    model = (
        model_minutes
        if model_minutes is not None
        else (MINUTES_BESIDE if beside else MINUTES_AFTER_LOCALISER)
    )
    if localiser_minutes is None:
        localiser_minutes = model * (LOCALISER_SHARE_BESIDE if beside else LOCALISER_SHARE_BEFORE)
    return model, localiser_minutes


def _budget(minutes: float, max_steps: int | None) -> str:
    """A training's budget as the demo says it: '7 min', or '7 min or 300 steps'."""
    return f"{minutes:g} min" + ("" if max_steps is None else f" or {max_steps} steps")


@dataclass
class DemoOutcome:
    model_spec: str
    reason: str
    report: EvalReport
    report_paths: tuple[Path, Path]
    seconds: float
    held_out: EvalReport | None = None
    held_out_paths: tuple[Path, Path] | None = None


def choose_model(settings: Settings) -> tuple[str | None, str]:
    """(spec, reason): the default pretrained model when its weights are here, else None."""
    spec = parse_model_spec(DEFAULT_MODEL_SPEC)
    try:
        path = resolve_pretrained_tag(spec, settings.models_dir, allow_download=False)
    except WeightsUnavailableError:
        return None, (
            f"the product default {DEFAULT_MODEL_SPEC} has no weights in {settings.models_dir}/ "
            "(see models/README.md)"
        )
    return DEFAULT_MODEL_SPEC, f"the product default {DEFAULT_MODEL_SPEC} weights are in {path}"


def _trained_on(checkpoint: Path, catalog_sha: str, wants_localiser: bool) -> bool:
    """True when `checkpoint` was trained on exactly this catalog file and its localiser (when
    one is wanted) loads and belongs to it: one from an older snapbuy version, or left by a stopped
    run, means training again, not a crash."""
    if not checkpoint.is_file() or not checkpoint.with_suffix(".json").is_file():
        return False
    record = training_record(checkpoint)  # None for an unreadable or foreign checkpoint: train anew
    if record is None or record.get("catalog_sha256") != catalog_sha:
        return False
    if not wants_localiser:
        return True
    try:
        return localiser_for(parse_model_spec(trained_model_spec(checkpoint))) is not None
    except ModelError:
        return False


def _shipped_spec(catalog_sha: str, reason: str) -> tuple[str | None, str]:
    """The shipped demo model's spec when it was trained on this very shop, else None; and the
    reason, extended to say which."""
    shipped = shipped_model()
    if shipped is None:
        return None, reason + "; this install ships no demo model,"
    if shipped.catalog_sha256 != catalog_sha:
        return None, reason + (
            "; the demo model shipped with snapbuy was trained on another shop (the default 1,000 "
            "products, seed 0),"
        )
    return trained_model_spec(shipped.checkpoint), reason + (
        f"; so the demo uses the demo model shipped with snapbuy ({shipped.provenance['steps']} training "
        "steps, docs/demo.md#shipped-model); `snapbuy demo --train` trains one here instead"
    )


@dataclass(frozen=True)
class PreparedDemo:
    """The demo's shop drawn, its model chosen (or trained) and the shop indexed: ready to serve."""

    model_spec: str
    reason: str
    started: float  # time.perf_counter() when the demo began


def run_demo(settings: Settings, options: DemoOptions, say: Say) -> DemoOutcome:
    return evaluate_demo(prepare_demo(settings, options, say), settings, options, say)


def prepare_demo(settings: Settings, options: DemoOptions, say: Say) -> PreparedDemo:
    from snapbuy.catalog import read_catalog
    from snapbuy.demo.generate import CATALOG_FILE, write_demo_shop

    started = time.perf_counter()
    model_out = settings.models_dir / options.model_name
    spec, reason = choose_model(settings)
    say(f"demo shop: generating {options.products} products in {options.workdir}/")
    # The shopper photos wait for the evaluation (evaluate_demo), which runs after serving has begun.
    data = write_demo_shop(options.workdir, options.products, options.seed)
    catalog = options.workdir / CATALOG_FILE
    say(f"  {data.products} SKUs in {data.groups} designs")
    sha = read_catalog(catalog).sha256 if spec is None else ""
    if spec is None and not (options.train or options.retrain):
        spec, reason = _shipped_spec(sha, reason)
    elif spec is None:
        reason += "; --train was given,"
    if spec is None:
        reason += " so the demo trains its own model on the demo shop"
        device = training_device(None)
        beside = trains_beside_model(device)
        model_minutes, localiser_minutes = training_minutes(
            options.train_minutes, options.localiser_minutes, beside
        )
        if not options.retrain and _trained_on(model_out, sha, localiser_minutes > 0):
            reason += f"; {model_out} was already trained on this shop and is reused"
        else:
            where = "GPU" if device.type == "cuda" else "CPU"
            precision = resolve_precision(TrainOptions().precision, device)
            if precision == "bf16":
                where += " in bfloat16 autocast"
            say(
                f"training the demo model for {_budget(model_minutes, options.train_max_steps)} "
                f"on the {where}"
                + (
                    ""
                    if not localiser_minutes
                    else f", and {'beside it' if beside else 'before it'} its product localiser "
                    f"for {_budget(localiser_minutes, options.localiser_max_steps)}"
                )
                + f" (model: {reason})"
            )
            note = precision_note(device.type, precision)
            if note:
                say(note)
            report = train(
                catalog,
                model_out,
                options=TrainOptions(
                    minutes=model_minutes,
                    max_steps=options.train_max_steps,
                    localiser_minutes=localiser_minutes,
                    localiser_max_steps=options.localiser_max_steps,
                    seed=options.seed,
                ),
                catalog_sha256=sha,
                progress=StepPrinter(say, every=30),
            )
            say(
                f"  trained {report.steps} steps in {report.seconds:.0f} s, "
                f"loss {report.first_loss:.2f} -> {report.last_loss:.2f}"
            )
        spec = trained_model_spec(model_out)
    say(f"model: {spec} ({reason})")
    embedder = settings_embedder(spec, settings.model_copy(update={"allow_download": False}))
    indexed = build_index(
        catalog,
        options.index,
        embedder,
        IndexingOptions(batch_size=settings.batch_size, catalog_views=options.catalog_views),
    )
    say(
        f"indexed {indexed.products} products into {indexed.path} in {indexed.seconds:.0f} s"
        + (f", with {options.catalog_views} shopper-photo views of each" if options.catalog_views else "")
    )
    return PreparedDemo(spec, reason, started)


def evaluate_demo(prepared: PreparedDemo, settings: Settings, options: DemoOptions, say: Say) -> DemoOutcome:
    """Draw the shopper photos, in distribution and held out, then evaluate the indexed shop on both."""
    from snapbuy.demo.generate import HELD_OUT_FILE, QUERIES_FILE, write_held_out_photos, write_shopper_photos

    drawn = write_shopper_photos(options.workdir, options.products, options.seed)
    say(f"  {drawn} shopper photos drawn as the training views are, in {options.workdir}/")
    if options.held_out_photos:
        drawn = write_held_out_photos(
            options.workdir, options.products, options.seed, options.held_out_photos
        )
        say(f"  {drawn} held-out shopper photos drawn in {options.workdir}/")
    spec = prepared.model_spec
    settings = demo_settings(settings)
    embedder = settings_embedder(spec, settings.model_copy(update={"allow_download": False}))
    localiser = configured_localiser(spec, settings)
    say(
        "finding the product in photos with "
        + ("the model's product localiser" if localiser else f"the crop grid {settings.crop_scales}")
    )
    service = configured_service(embedder, open_current(options.index), settings, localiser)
    try:
        result = evaluate(service, options.workdir / QUERIES_FILE)
        held_out = evaluate(service, options.workdir / HELD_OUT_FILE) if options.held_out_photos else None
    finally:
        service.close()
    paths = write_report(result, options.results, "demo-eval")
    held_out_paths = None if held_out is None else write_report(held_out, options.results, "demo-held-out")
    seconds = time.perf_counter() - prepared.started
    return DemoOutcome(spec, prepared.reason, result, paths, seconds, held_out, held_out_paths)


def _metric_lines(report: EvalReport, floors: dict[str, float]) -> list[str]:
    lines = []
    for name, value in report.metrics.items():
        floor = floors.get(name)
        mark = "" if floor is None else (f"  (floor {floor}: {'met' if value >= floor else 'NOT met'})")
        lines.append(f"  {name:<18} {value:.3f}{mark}")
    lines.append(f"  latency per photo: median {report.latency_ms['p50']:.0f} ms")
    return lines


def summary_lines(outcome: DemoOutcome) -> list[str]:
    lines = []
    if outcome.held_out is not None and outcome.held_out_paths is not None:
        lines.append(
            f"held out: {outcome.held_out.queries} shopper photos with backgrounds, screens and camera "
            "effects that training never saw:"
        )
        lines += _metric_lines(outcome.held_out, HELD_OUT_FLOORS)
        lines.append(f"  report: {outcome.held_out_paths[1]} (and .json)")
    lines.append(f"in distribution: {outcome.report.queries} shopper photos drawn as the training views are:")
    lines += _metric_lines(outcome.report, FLOORS)
    lines.append(f"  report: {outcome.report_paths[1]} (and .json)")
    lines.append(f"whole demo took {outcome.seconds:.0f} s")
    return lines
