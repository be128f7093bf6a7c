"""Figures a test measured on the machine it ran on, printed at the end of the run (conftest's
pytest_terminal_summary), so that a CI log says what the floors met on that machine's CPU."""

from __future__ import annotations

import pytest

MEASURED = pytest.StashKey[list[str]]()


def record_measured(config: pytest.Config, line: str) -> None:
    config.stash.setdefault(MEASURED, []).append(line)


def measured_lines(config: pytest.Config) -> list[str]:
    lines = config.stash.get(MEASURED, None)
    return [] if lines is None else list(lines)
