"""What every command shares: errors as one line and an exit code, settings with command-line
overrides, progress lines, common options."""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from snapbuy.config import Settings, get_settings
from snapbuy.errors import SnapbuyError

F = TypeVar("F", bound=Callable[..., Any])

IndexOpt = Annotated[Path, typer.Option("--index", help="index folder (holds CURRENT and versions)")]
DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", help="cpu or cuda: where the model and the similarity search run"),
]
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


def settings_with(**overrides: Any) -> Settings:
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


def configure_logging(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    from snapbuy.cli.logs import log_handler

    json_lines = get_settings().log_format == "json"
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        handlers=[log_handler(sys.stderr, json_lines)],
    )
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is noise
    # httpx logs every request at INFO: one line per catalog image would drown the progress output.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)


def print_results(json_path: Path, md_path: Path, *more: Path) -> None:
    typer.echo(md_path.read_text(encoding="utf-8"))
    typer.echo(f"wrote {', '.join(str(p) for p in (json_path, md_path, *more))}")
