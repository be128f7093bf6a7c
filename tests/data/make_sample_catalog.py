"""Regenerate tests/data/sample-catalog/ (24 products, 4 categories, studio shots on white).

Run from the repository root: python tests/data/make_sample_catalog.py
The output is committed, so tests and the README's quick start never need to run this.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).parent / "sample-catalog"
SIZE = 160
Colour = tuple[int, int, int]
COLOURS: dict[str, Colour] = {
    "black": (30, 30, 30),
    "red": (200, 40, 40),
    "blue": (40, 70, 200),
    "green": (40, 150, 70),
    "tan": (190, 150, 100),
    "white": (235, 235, 235),
}


def watch(d: ImageDraw.ImageDraw, c: Colour, style: int) -> None:
    d.rectangle((68, 10, 92, 150), fill=c)  # strap
    if style == 0:
        d.ellipse((45, 45, 115, 115), fill=(210, 210, 210), outline=c, width=6)
    else:
        d.rounded_rectangle((48, 48, 112, 112), radius=10 * style, fill=(210, 210, 210), outline=c, width=6)
    d.line((80, 80, 80, 58), fill=(20, 20, 20), width=3)
    d.line((80, 80, 96, 84), fill=(20, 20, 20), width=3)


def sneaker(d: ImageDraw.ImageDraw, c: Colour, style: int) -> None:
    d.polygon([(20, 110), (40, 60 + 8 * style), (90, 70), (140, 100), (140, 118), (20, 118)], fill=c)
    d.rectangle((20, 118, 140, 128), fill=(245, 245, 245), outline=(120, 120, 120))
    for x in range(50, 90, 12):
        d.line((x, 72, x + 6, 86), fill=(250, 250, 250), width=2)


def mug(d: ImageDraw.ImageDraw, c: Colour, style: int) -> None:
    top = 40 + 10 * style
    d.rectangle((40, top, 105, 130), fill=c)
    d.ellipse((95, 60, 135, 105), outline=c, width=8)
    d.ellipse((40, top - 6, 105, top + 6), fill=(60, 40, 30))


def backpack(d: ImageDraw.ImageDraw, c: Colour, style: int) -> None:
    d.rounded_rectangle((40, 30, 120, 140), radius=20 + 5 * style, fill=c)
    d.rounded_rectangle((52, 85, 108, 130), radius=8, outline=(20, 20, 20), width=3)
    d.arc((60, 10, 100, 50), 180, 360, fill=c, width=6)


CATEGORIES: dict[str, Callable[[ImageDraw.ImageDraw, Colour, int], None]] = {
    "watch": watch,
    "sneaker": sneaker,
    "mug": mug,
    "backpack": backpack,
}
# (brand, price in NOK) per design: a budget, a mid and a premium design per category.
DESIGNS = [("Basico", 0.4), ("Nordlys", 1.0), ("Aurum", 3.0)]
BASE_PRICE = {"watch": 1500, "sneaker": 1000, "mug": 150, "backpack": 700}
VARIANTS = [("black", "red"), ("blue", "green"), ("tan", "white")]


def main() -> None:
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for category, draw in CATEGORIES.items():
        for style, ((brand, factor), colours) in enumerate(zip(DESIGNS, VARIANTS, strict=True)):
            group = f"{category[:3].upper()}-{style + 1}"
            for colour in colours:
                sku = f"{group}-{colour.upper()}"
                image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
                draw(ImageDraw.Draw(image), COLOURS[colour], style)
                image.save(OUT / "images" / f"{sku.lower()}.jpg", quality=90)
                price = round(BASE_PRICE[category] * factor + 10 * len(colour), 2)
                rows.append(
                    {
                        "id": sku,
                        "title": f"{brand} {colour} {category}",
                        "price": f"{price:.2f} NOK",
                        "brand": brand,
                        "product_type": category,
                        "item_group_id": group,
                        "image_link": f"images/{sku.lower()}.jpg",
                        "link": f"https://shop.example/p/{sku.lower()}",
                    }
                )
    with (OUT / "catalog.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
