"""The deployment files (Dockerfile, compose.yaml, docs/deployment.md): every command they run is one the
CLI accepts, and the compose file indexes before it serves the same index with a readiness check."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from snapbuy.cli import build_app

ROOT = Path(__file__).parent.parent


def accepts(args: list[str]) -> None:
    """Parse `snapbuy ARGS` as the CLI would, without running it; a bad command or option raises."""
    group: Any = typer.main.get_command(build_app())
    context = group.make_context("snapbuy", list(args))
    name, command, rest = group.resolve_command(context, list(args))
    command.make_context(name, list(rest), parent=context)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return data


def dockerfile_json(instruction: str) -> list[str]:
    """The exec-form argument list of a Dockerfile instruction (ENTRYPOINT, CMD)."""
    match = re.search(rf"^{instruction} (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match is not None, f"no exec-form {instruction} in the Dockerfile"
    value: list[str] = json.loads(match.group(1))
    return value


def test_the_images_default_command_is_a_valid_serve() -> None:
    assert dockerfile_json("ENTRYPOINT") == ["snapbuy"]
    command = dockerfile_json("CMD")
    accepts(command)
    assert command[0] == "serve" and command[command.index("--host") + 1] == "0.0.0.0"


@pytest.mark.parametrize(
    "bad", [["serve", "--index", "/data", "--bogus"], ["nope"], ["index", "--index", "/data"]]
)
def test_a_bad_command_or_option_is_caught(bad: list[str]) -> None:
    with pytest.raises(Exception) as err:  # the CLI library's own usage errors (vendored by typer)
        accepts(bad)
    assert hasattr(err.value, "format_message")  # a usage error, not a crash of the check itself


def test_compose_indexes_the_sample_then_serves_that_index_with_a_readiness_check() -> None:
    services = compose()["services"]
    index, api = services["index"]["command"], services["api"]["command"]
    accepts(index)
    accepts(api)
    assert index[0] == "index" and api[0] == "serve"
    assert index[index.index("--index") + 1] == api[api.index("--index") + 1]
    assert services["api"]["depends_on"]["index"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    sample = next(v for v in services["index"]["volumes"] if v.endswith(":/sample:ro"))
    assert (ROOT / sample.split(":")[0] / "catalog.csv").is_file()
    # Published on loopback only: a public port is the operator's decision, behind TLS.
    assert all(port.startswith("127.0.0.1:") for port in services["api"]["ports"])
