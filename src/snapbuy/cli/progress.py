"""Indexing progress on stderr: rich bars with counts, rate and ETA on a terminal; one plain line per
stage every few seconds (and when a stage ends) when stderr is a file or a pipe, as in cron or CI."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class BarProgress:
    """One rich bar per stage. Use as a context manager so the bars are closed on errors too."""

    def __init__(self, stream: TextIO) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("[progress.data.speed]{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}

    def __enter__(self) -> BarProgress:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.stop()

    def start(self, stage: str, total: int) -> None:
        self._tasks[stage] = self._progress.add_task(stage, total=total, rate="")
        self._started[stage] = time.perf_counter()

    def advance(self, stage: str, count: int = 1) -> None:
        task = self._tasks[stage]
        self._progress.advance(task, count)
        done = self._progress.tasks[task].completed
        elapsed = max(time.perf_counter() - self._started[stage], 1e-9)
        self._progress.update(task, rate=f"{done / elapsed:7.1f}/s")

    def finish(self, stage: str) -> None:
        self._progress.refresh()


@dataclass
class _Stage:
    total: int
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    last: float = field(default_factory=time.perf_counter)


class LineProgress:
    """`stage: done/total (pct), rate/s, eta` at most every `every` seconds per stage, and at its end."""

    def __init__(self, stream: TextIO, every: float = 10.0) -> None:
        self.stream, self.every = stream, every
        self._stages: dict[str, _Stage] = {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None

    def start(self, stage: str, total: int) -> None:
        self._stages[stage] = _Stage(total)

    def advance(self, stage: str, count: int = 1) -> None:
        state = self._stages[stage]
        state.done += count
        now = time.perf_counter()
        if now - state.last >= self.every:
            state.last = now
            self._print(stage, state, now)

    def finish(self, stage: str) -> None:
        self._print(stage, self._stages[stage], time.perf_counter())

    def _print(self, stage: str, state: _Stage, now: float) -> None:
        elapsed = max(now - state.started, 1e-9)
        rate = state.done / elapsed
        left = state.total - state.done
        eta = f", eta {_clock(left / rate)}" if left > 0 and rate > 0 else ""
        share = 100 * state.done / state.total if state.total else 100.0
        print(
            f"{stage}: {state.done}/{state.total} images ({share:.0f} %), {rate:.1f}/s, "
            f"{_clock(elapsed)} elapsed{eta}",
            file=self.stream,
            flush=True,
        )


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def indexing_progress(quiet: bool, stream: TextIO | None = None) -> BarProgress | LineProgress | None:
    """Bars on a terminal, lines elsewhere, nothing when quiet."""
    if quiet:
        return None
    out = stream or sys.stderr
    return BarProgress(out) if out.isatty() else LineProgress(out)
