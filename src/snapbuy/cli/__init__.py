"""Command line: snapbuy index | embed | search | serve | eval | bench | train | train-localiser |
demo-data | demo | version. One module per command group; this one assembles them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from snapbuy import __version__
from snapbuy.cli import demo, evaluation, indexing, keys, searching, training
from snapbuy.cli.common import configure_logging


def version_command() -> None:
    """Print the snapbuy version."""
    typer.echo(__version__)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="snapbuy",
        help="Visual search for shops: index a catalog, search it with a photo, serve the HTTP API.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(configure_logging)
    commands: dict[str, Callable[..., Any]] = {
        "index": indexing.index_command,
        "embed": indexing.embed_command,
        "search": searching.search_command,
        "serve": searching.serve_command,
        "api-key": keys.api_key_command,
        "eval": evaluation.eval_command,
        "bench": evaluation.bench_command,
        "train": training.train_command,
        "train-localiser": training.train_localiser_command,
        "demo-data": demo.demo_data_command,
        "demo": demo.demo_command,
        "version": version_command,
    }
    for name, command in commands.items():
        app.command(name)(command)
    return app


app = build_app()


def main() -> None:
    app()


__all__ = ["app", "build_app", "main"]
