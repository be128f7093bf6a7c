"""Product drawings: one function per category, each drawing a design's silhouette and details in
the given colours onto a transparent square sprite. Designs differ in shape and details; colour
variants of a design differ only in their main colour."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

Colour = tuple[int, int, int]
SPRITE_SIZE = 256


@dataclass(frozen=True)
class Design:
    """Shape parameters of one design; `params` values are in [0, 1) or small integers."""

    category: str
    params: dict[str, Any]
    accent: Colour
    pattern: str  # "plain", "stripes", "dots", "band", "check"


def _lerp(lo: float, hi: float, t: float) -> float:
    return lo + (hi - lo) * t


def _shade(colour: Colour, factor: float) -> Colour:
    return (
        max(0, min(255, int(colour[0] * factor))),
        max(0, min(255, int(colour[1] * factor))),
        max(0, min(255, int(colour[2] * factor))),
    )


def _pattern(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], design: Design) -> None:
    """Surface pattern in the accent colour, clipped by drawing only inside `box`."""
    x0, y0, x1, y1 = box
    accent, kind = design.accent, design.pattern
    if kind == "stripes":
        step = max(6.0, (x1 - x0) / (3 + design.params["n"]))
        x = x0 + step / 2
        while x < x1:
            draw.rectangle((x, y0, x + step / 3, y1), fill=accent)
            x += step
    elif kind == "dots":
        r = max(3.0, (x1 - x0) / 14)
        for i in range(3):
            for j in range(3):
                cx = _lerp(x0, x1, (i + 0.5) / 3)
                cy = _lerp(y0, y1, (j + 0.5) / 3)
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=accent)
    elif kind == "band":
        h = (y1 - y0) * 0.22
        cy = _lerp(y0, y1, 0.3 + 0.4 * design.params["t"])
        draw.rectangle((x0, cy - h / 2, x1, cy + h / 2), fill=accent)
    elif kind == "check":
        n = 4
        w, h = (x1 - x0) / n, (y1 - y0) / n
        for i in range(n):
            for j in range(n):
                if (i + j) % 2 == 0:
                    draw.rectangle((x0 + i * w, y0 + j * h, x0 + (i + 1) * w, y0 + (j + 1) * h), fill=accent)


def watch(d: ImageDraw.ImageDraw, main: Colour, g: Design) -> None:
    p = g.params
    strap_w = _lerp(34, 62, p["a"])
    d.rounded_rectangle((128 - strap_w / 2, 8, 128 + strap_w / 2, 248), radius=int(strap_w / 3), fill=main)
    r = _lerp(52, 78, p["b"])
    face = _shade(g.accent, 1.0) if p["style"] % 2 else (235, 235, 228)
    if p["style"] == 0:
        d.ellipse((128 - r, 128 - r, 128 + r, 128 + r), fill=(170, 170, 175))
        d.ellipse((128 - r + 9, 128 - r + 9, 128 + r - 9, 128 + r - 9), fill=face)
    elif p["style"] == 1:
        d.rounded_rectangle((128 - r, 128 - r, 128 + r, 128 + r), radius=int(r * 0.35), fill=(170, 170, 175))
        d.rounded_rectangle(
            (128 - r + 9, 128 - r + 9, 128 + r - 9, 128 + r - 9), radius=int(r * 0.3), fill=face
        )
    else:
        pts = [
            (
                128 + r * math.cos(math.pi / 8 + k * math.pi / 4),
                128 + r * math.sin(math.pi / 8 + k * math.pi / 4),
            )
            for k in range(8)
        ]
        d.polygon(pts, fill=(170, 170, 175))
        inner = [(128 + (x - 128) * 0.82, 128 + (y - 128) * 0.82) for x, y in pts]
        d.polygon(inner, fill=face)
    for k in range(int(4 + 8 * p["c"])):
        ang = 2 * math.pi * k / int(4 + 8 * p["c"])
        d.line(
            (
                128 + 0.6 * r * math.cos(ang),
                128 + 0.6 * r * math.sin(ang),
                128 + 0.72 * r * math.cos(ang),
                128 + 0.72 * r * math.sin(ang),
            ),
            fill=(20, 20, 20),
            width=4,
        )
    d.line(
        (128, 128, 128 + 0.45 * r * math.cos(p["t"] * 6.28), 128 + 0.45 * r * math.sin(p["t"] * 6.28)),
        fill=(20, 20, 20),
        width=5,
    )
    d.line((128, 128, 128, 128 - 0.55 * r), fill=(20, 20, 20), width=3)
    d.rectangle((128 + r - 4, 120, 128 + r + 8, 136), fill=(150, 150, 150))  # crown


def sneaker(d: ImageDraw.ImageDraw, main: Colour, g: Design) -> None:
    p = g.params
    toe = _lerp(200, 236, p["a"])
    heel_h = _lerp(70, 120, p["b"])
    top = [
        (24, 168 - heel_h),
        (70, 168 - heel_h - 6),
        (112, 104 + 20 * p["c"]),
        (toe - 30, 140),
        (toe, 168),
        (toe, 184),
        (24, 184),
    ]
    d.polygon(top, fill=main)
    sole_h = _lerp(12, 28, p["t"])
    d.rounded_rectangle(
        (18, 184, toe + 6, 184 + sole_h), radius=6, fill=(240, 240, 240) if p["style"] != 1 else g.accent
    )
    _pattern(d, (40, 150, toe - 40, 180), g)
    for k in range(int(3 + 3 * p["c"])):
        x = 88 + k * 12
        d.line((x, 118 + k * 4, x + 14, 130 + k * 4), fill=(250, 250, 250), width=3)
    if p["style"] == 2:
        d.arc((60, 120, 200, 220), 200, 320, fill=g.accent, width=8)  # swoosh-like stripe


def handbag(d: ImageDraw.ImageDraw, main: Colour, g: Design) -> None:
    p = g.params
    w = _lerp(150, 210, p["a"])
    h = _lerp(100, 140, p["b"])
    top = 230 - h
    if p["style"] == 0:
        d.rounded_rectangle((128 - w / 2, top, 128 + w / 2, 230), radius=14, fill=main)
    else:
        d.polygon(
            [(128 - w / 2 + 20, top), (128 + w / 2 - 20, top), (128 + w / 2, 230), (128 - w / 2, 230)],
            fill=main,
        )
    hw = _lerp(40, 90, p["c"])
    d.arc((128 - hw, top - hw * 1.1, 128 + hw, top + hw * 0.9), 180, 360, fill=_shade(main, 0.7), width=9)
    _pattern(d, (128 - w / 2 + 14, top + 16, 128 + w / 2 - 14, 222), g)
    d.rectangle((120, top + 10, 136, top + 26), fill=(210, 180, 60))  # clasp


def sunglasses(d: ImageDraw.ImageDraw, main: Colour, g: Design) -> None:
    p = g.params
    lw = _lerp(70, 96, p["a"])
    lh = _lerp(46, 78, p["b"])
    cy = 130
    lens = _shade(g.accent, 0.45)
    for cx in (128 - lw / 2 - 8, 128 + lw / 2 + 8):
        box = (cx - lw / 2, cy - lh / 2, cx + lw / 2, cy + lh / 2)
        if p["style"] == 0:
            d.ellipse(box, fill=lens, outline=main, width=10)
        elif p["style"] == 1:
            d.rounded_rectangle(box, radius=10, fill=lens, outline=main, width=10)
        else:
            d.polygon(
                [(box[0], box[1]), (box[2], box[1]), (box[2] - 10, box[3]), (box[0] + 10, box[3])],
                fill=lens,
                outline=main,
                width=10,
            )
    d.line((128 - 12, cy - lh / 4, 128 + 12, cy - lh / 4), fill=main, width=8)
    d.line((6, cy - lh / 2 + 6, 128 - lw - 8, cy - lh / 2 + 6), fill=main, width=8)
    d.line((128 + lw + 8, cy - lh / 2 + 6, 250, cy - lh / 2 + 6), fill=main, width=8)


def tshirt(d: ImageDraw.ImageDraw, main: Colour, g: Design) -> None:
    p = g.params
    sw = _lerp(40, 70, p["a"])
    body_w = _lerp(120, 160, p["b"])
    x0, x1 = 128 - body_w / 2, 128 + body_w / 2
    d.polygon(
        [
            (x0, 60),
            (x0 - sw, 100),
            (x0 - sw + 22, 126),
            (x0, 112),
            (x0, 236),
            (x1, 236),
            (x1, 112),
            (x1 + sw - 22, 126),
            (x1 + sw, 100),
            (x1, 60),
        ],
        fill=main,
    )
    _pattern(d, (x0 + 8, 120, x1 - 8, 228), g)
    neck = _lerp(18, 34, p["c"])
    if p["style"] == 1:
        d.polygon([(128 - neck, 60), (128 + neck, 60), (128, 60 + neck * 1.4)], fill=(255, 255, 255, 0))
    else:
        d.ellipse((128 - neck, 60 - neck / 2, 128 + neck, 60 + neck / 2), fill=_shade(main, 0.6))


def mug(d: ImageDraw.ImageDraw, main: Colour, g: Design) -> None:
    p = g.params
    w = _lerp(110, 150, p["a"])
    top = _lerp(50, 100, p["b"])
    x0 = 112 - w / 2
    if p["style"] == 0:
        d.rectangle((x0, top, x0 + w, 220), fill=main)
    else:
        d.polygon([(x0 - 10, top), (x0 + w + 10, top), (x0 + w, 220), (x0, 220)], fill=main)
    d.ellipse((x0, top - 10, x0 + w, top + 10), fill=_shade(main, 0.6))
    hr = _lerp(30, 46, p["c"])
    d.ellipse((x0 + w - 16, 140 - hr, x0 + w - 16 + 2 * hr, 140 + hr), outline=main, width=12)
    _pattern(d, (x0 + 6, top + 20, x0 + w - 6, 210), g)


def lamp(d: ImageDraw.ImageDraw, main: Colour, g: Design) -> None:
    p = g.params
    sw_top, sw_bot = _lerp(40, 80, p["a"]), _lerp(100, 150, p["b"])
    shade_h = _lerp(60, 100, p["c"])
    if p["style"] == 2:
        d.pieslice((128 - sw_bot / 2, 20, 128 + sw_bot / 2, 20 + 2 * shade_h), 180, 360, fill=main)
    else:
        d.polygon(
            [
                (128 - sw_top / 2, 20),
                (128 + sw_top / 2, 20),
                (128 + sw_bot / 2, 20 + shade_h),
                (128 - sw_bot / 2, 20 + shade_h),
            ],
            fill=main,
        )
    d.rectangle((122, 20 + shade_h, 134, 216), fill=g.accent)
    base_w = _lerp(60, 110, p["t"])
    if p["style"] == 1:
        d.rectangle((128 - base_w / 2, 214, 128 + base_w / 2, 236), fill=_shade(g.accent, 0.7))
    else:
        d.ellipse((128 - base_w / 2, 206, 128 + base_w / 2, 238), fill=_shade(g.accent, 0.7))


def backpack(d: ImageDraw.ImageDraw, main: Colour, g: Design) -> None:
    p = g.params
    w = _lerp(120, 160, p["a"])
    d.rounded_rectangle((128 - w / 2, 40, 128 + w / 2, 236), radius=int(_lerp(16, 50, p["b"])), fill=main)
    pw = w * _lerp(0.5, 0.8, p["c"])
    d.rounded_rectangle(
        (128 - pw / 2, 140, 128 + pw / 2, 224), radius=12, fill=_shade(main, 0.8), outline=g.accent, width=4
    )
    _pattern(d, (128 - pw / 2 + 6, 146, 128 + pw / 2 - 6, 218), g)
    d.arc((96, 10, 160, 70), 180, 360, fill=_shade(main, 0.7), width=9)
    if p["style"] >= 1:
        d.rectangle((128 - w / 2 + 10, 100, 128 + w / 2 - 10, 110), fill=g.accent)


def headphones(d: ImageDraw.ImageDraw, main: Colour, g: Design) -> None:
    p = g.params
    span = _lerp(150, 200, p["a"])
    d.arc(
        (128 - span / 2, 30, 128 + span / 2, 30 + span), 180, 360, fill=main, width=int(_lerp(10, 22, p["b"]))
    )
    cup_w, cup_h = _lerp(40, 60, p["c"]), _lerp(70, 100, p["t"])
    for cx in (128 - span / 2, 128 + span / 2):
        box = (cx - cup_w / 2, 30 + span / 2 - 10, cx + cup_w / 2, 30 + span / 2 - 10 + cup_h)
        if p["style"] == 0:
            d.ellipse(box, fill=main, outline=g.accent, width=6)
        else:
            d.rounded_rectangle(box, radius=12, fill=main, outline=g.accent, width=6)


def bottle(d: ImageDraw.ImageDraw, main: Colour, g: Design) -> None:
    p = g.params
    w = _lerp(64, 100, p["a"])
    neck = _lerp(26, 44, p["b"])
    shoulder = _lerp(70, 110, p["c"])
    d.rounded_rectangle((128 - w / 2, shoulder, 128 + w / 2, 240), radius=int(w / 4), fill=main)
    d.polygon(
        [
            (128 - w / 2, shoulder + 10),
            (128 - neck / 2, shoulder - 30),
            (128 + neck / 2, shoulder - 30),
            (128 + w / 2, shoulder + 10),
        ],
        fill=main,
    )
    cap_h = _lerp(20, 44, p["t"])
    d.rectangle((128 - neck / 2 - 3, shoulder - 30 - cap_h, 128 + neck / 2 + 3, shoulder - 30), fill=g.accent)
    _pattern(d, (128 - w / 2 + 6, shoulder + 30, 128 + w / 2 - 6, 226), g)


DRAWERS: dict[str, Callable[[ImageDraw.ImageDraw, Colour, Design], None]] = {
    "watch": watch,
    "sneaker": sneaker,
    "handbag": handbag,
    "sunglasses": sunglasses,
    "t-shirt": tshirt,
    "mug": mug,
    "lamp": lamp,
    "backpack": backpack,
    "headphones": headphones,
    "bottle": bottle,
}


def draw_sprite(design: Design, main: Colour) -> Image.Image:
    """The product alone on a transparent SPRITE_SIZE square (RGBA)."""
    sprite = Image.new("RGBA", (SPRITE_SIZE, SPRITE_SIZE), (0, 0, 0, 0))
    DRAWERS[design.category](ImageDraw.Draw(sprite), main, design)
    return sprite
