"""PNG line charts drawn with Pillow (already a dependency), for the benchmark's result files."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from snapbuy.atomic import write_file_atomically

WIDTH, HEIGHT = 900, 560
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 80, 200, 50, 60
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
Series = Mapping[str, Sequence[tuple[float, float]]]


def _scale(lo: float, hi: float, log: bool) -> tuple[float, float, bool]:
    if log:
        lo, hi = math.log10(max(lo, 1e-9)), math.log10(max(hi, 1e-9))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad, log


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    """Tick values in data units: powers of ten (and 2x, 5x) on a log axis, 5-9 round steps otherwise."""
    if log:
        values = [m * 10.0**e for e in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in (1, 2, 5)]
        return [v for v in values if lo <= math.log10(v) <= hi]
    raw = (hi - lo) / 8
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    return [i * step for i in range(math.ceil(lo / step), math.floor(hi / step) + 1)]


def xy_chart(
    path: Path,
    title: str,
    x_label: str,
    y_label: str,
    series: Series,
    *,
    log_x: bool = False,
    log_y: bool = False,
) -> Path:
    """One line with markers per series; returns the written path."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        raise ValueError("nothing to plot")
    x_lo, x_hi, _ = _scale(min(p[0] for p in points), max(p[0] for p in points), log_x)
    y_lo, y_hi, _ = _scale(min(p[1] for p in points), max(p[1] for p in points), log_y)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def px(x: float, y: float) -> tuple[float, float]:
        xv = math.log10(max(x, 1e-9)) if log_x else x
        yv = math.log10(max(y, 1e-9)) if log_y else y
        return (
            MARGIN_LEFT + (xv - x_lo) / (x_hi - x_lo) * plot_w,
            MARGIN_TOP + plot_h - (yv - y_lo) / (y_hi - y_lo) * plot_h,
        )

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN_LEFT, 15), title, fill="black")
    box = (MARGIN_LEFT, MARGIN_TOP, MARGIN_LEFT + plot_w, MARGIN_TOP + plot_h)
    draw.rectangle(box, outline="black")
    for value in _ticks(x_lo, x_hi, log_x):
        x, _ = px(value, 10**y_lo if log_y else y_lo)
        draw.line((x, box[3], x, box[3] + 5), fill="black")
        draw.line((x, box[1], x, box[3]), fill="#e5e5e5")
        draw.text((x - 12, box[3] + 8), f"{value:g}", fill="black")
    for value in _ticks(y_lo, y_hi, log_y):
        _, y = px(10**x_lo if log_x else x_lo, value)
        draw.line((box[0] - 5, y, box[0], y), fill="black")
        draw.line((box[0], y, box[2], y), fill="#e5e5e5")
        draw.text((8, y - 6), f"{value:g}", fill="black")
    draw.text((MARGIN_LEFT + plot_w // 2 - 60, HEIGHT - 28), x_label, fill="black")
    draw.text((8, MARGIN_TOP - 22), y_label, fill="black")
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        xy = [px(x, y) for x, y in sorted(pts)]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy:
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour)
        legend_y = MARGIN_TOP + 10 + i * 22
        draw.rectangle((box[2] + 15, legend_y, box[2] + 29, legend_y + 12), fill=colour)
        draw.text((box[2] + 35, legend_y), name, fill="black")
    write_file_atomically(path, lambda handle: image.save(handle, format="PNG"))
    return path
