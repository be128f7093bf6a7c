from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from snapbuy.bench.plots import HEIGHT, WIDTH, xy_chart


def test_chart_is_a_png_with_a_line_per_series(tmp_path: Path) -> None:
    path = xy_chart(
        tmp_path / "c.png",
        "title",
        "x",
        "y",
        {"a": [(1.0, 0.5), (10.0, 0.9)], "b": [(3.0, 0.99)]},
        log_x=True,
    )
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    colours = {c for _, c in image.convert("RGB").getcolors(maxcolors=100_000) or []}
    assert (31, 119, 180) in colours and (214, 39, 40) in colours  # both series drawn
    assert not list(tmp_path.glob("*.tmp*"))


def test_nothing_to_plot_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to plot"):
        xy_chart(tmp_path / "c.png", "t", "x", "y", {"a": []})
