"""Indexing progress output (cli/progress.py): bars on a terminal, throttled lines elsewhere, quiet."""

from __future__ import annotations

import io

from snapbuy.cli.progress import BarProgress, LineProgress, indexing_progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_report_counts_rate_and_eta_and_the_end_of_each_stage() -> None:
    out = io.StringIO()
    with LineProgress(out, every=0.0) as progress:
        progress.start("embedding", 4)
        progress.advance("embedding", 1)
        progress.advance("embedding", 3)
        progress.finish("embedding")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("embedding: 1/4 images (25 %)") and "/s" in lines[0] and "eta" in lines[0]
    assert lines[-1].startswith("embedding: 4/4 images (100 %)") and "eta" not in lines[-1]


def test_lines_are_throttled_but_the_last_one_always_comes() -> None:
    out = io.StringIO()
    progress = LineProgress(out, every=3600.0)
    progress.start("fetching", 1000)
    for _ in range(1000):
        progress.advance("fetching")
    progress.finish("fetching")
    assert out.getvalue().splitlines() == [
        line for line in out.getvalue().splitlines() if "1000/1000" in line
    ]
    assert len(out.getvalue().splitlines()) == 1


def test_a_terminal_gets_bars_a_pipe_gets_lines_and_quiet_gets_nothing() -> None:
    assert isinstance(indexing_progress(False, FakeTerminal()), BarProgress)
    assert isinstance(indexing_progress(False, io.StringIO()), LineProgress)
    assert indexing_progress(True, FakeTerminal()) is None


def test_bars_show_counts_and_rate() -> None:
    out = FakeTerminal()
    with BarProgress(out) as progress:
        progress.start("embedding", 10)
        progress.advance("embedding", 10)
        progress.finish("embedding")
    text = out.getvalue()
    assert "embedding" in text and "10/10" in text and "/s" in text
