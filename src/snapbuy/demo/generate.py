"""`snapbuy demo-data`: write the demo shop (catalog.csv, images/) and shopper photos (queries/,
queries.csv with ground truth), and on request photos of several products (several/, several.csv)
and held-out photos from a generator training never uses (held_out/, held_out.csv). Deterministic by
seed, whatever the number of worker processes."""

from __future__ import annotations

import csv
import os
import random
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from snapbuy.atomic import write_text_file_atomically
from snapbuy.demo.shop import PALETTE, DemoProduct, generate_products
from snapbuy.demo.sprites import draw_sprite
from snapbuy.synth.held_out import held_out_jpeg, held_out_photo
from snapbuy.synth.photos import (
    FAMILIES,
    encode_jpeg,
    phone_size,
    several_products_photo,
    shopper_photo,
    studio_shot,
)

CATALOG_FILE = "catalog.csv"
QUERIES_FILE = "queries.csv"
SEVERAL_FILE = "several.csv"  # photos of 2-3 products each, with every product's box
SEVERAL_FIELDS = ["image", "skus", "item_group_ids", "categories", "product_boxes", "families"]
# Held-out photos (synth/held_out.py), with queries.csv's columns so that `snapbuy eval` reads them alike.
HELD_OUT_FILE = "held_out.csv"
HELD_OUT_FOLDER = "held_out"
# Offset of the random stream that picks the held-out photos' products (several.csv's picker uses 17).
HELD_OUT_PICK_SEED = 29
# How often each family is applied to a shopper photo; placement (off-centre, 25-80 %) is always on.
FAMILY_RATES = {
    "clutter": 0.9,
    "distractors": 0.9,
    "placement": 1.0,
    "rotation": 0.7,
    "perspective": 0.5,
    "colour_cast": 0.7,
    "blur": 0.5,
    "noise": 0.5,
    "jpeg": 0.4,
    "occlusion": 0.4,
}
SIDEWAYS_RATE = 0.2
CATALOG_FIELDS = ["id", "title", "price", "brand", "product_type", "item_group_id", "image_link", "link"]
QUERY_FIELDS = [
    "image",
    "sku",
    "item_group_id",
    "category",
    "families",
    "exif_orientation",
    "lookalike_of",
    "product_box",  # x0 y0 x1 y1 of the product in the upright photo
]


@dataclass(frozen=True)
class DemoDataReport:
    folder: Path
    products: int
    groups: int
    queries: int


# (seed, photo number, product, folder): one shopper photo to draw.
_Job = tuple[int, int, DemoProduct, Path]


def _query_job(args: _Job) -> dict[str, str]:
    seed, index, product, folder = args
    rng = random.Random(seed * 1_000_003 + index)  # one stream per photo: same output in any worker
    families = frozenset(f for f in sorted(FAMILIES) if rng.random() < FAMILY_RATES[f])
    sideways = rng.choice((6, 8)) if rng.random() < SIDEWAYS_RATE else None
    sprite = draw_sprite(product.design, PALETTE[product.colour])
    photo, box = shopper_photo(sprite, rng, phone_size(rng), families)
    name = f"q{index:05d}.jpg"
    (folder / name).write_bytes(encode_jpeg(photo, rng, families, sideways))
    return _query_row(f"queries/{name}", product, families, sideways or 1, box)


def _query_row(
    image: str,
    product: DemoProduct,
    families: frozenset[str],
    orientation: int,
    box: tuple[int, int, int, int],
) -> dict[str, str]:
    """One photo's row of queries.csv (QUERY_FIELDS), held_out.csv's too."""
    return {
        "image": image,
        "sku": product.sku,
        "item_group_id": product.group,
        "category": product.category,
        "families": " ".join(sorted(families)),
        "exif_orientation": str(orientation),
        "lookalike_of": product.lookalike_of or "",
        "product_box": " ".join(str(v) for v in box),
    }


def _several_job(args: tuple[int, int, list[DemoProduct], Path]) -> dict[str, str]:
    seed, index, products, folder = args
    rng = random.Random(seed * 2_000_003 + index)
    families = frozenset(f for f in sorted(FAMILIES - {"occlusion"}) if rng.random() < FAMILY_RATES[f])
    sprites = [draw_sprite(p.design, PALETTE[p.colour]) for p in products]
    photo, boxes = several_products_photo(sprites, rng, phone_size(rng), families)
    name = f"s{index:05d}.jpg"
    (folder / name).write_bytes(encode_jpeg(photo, rng, families, None))
    return {
        "image": f"several/{name}",
        "skus": " ".join(p.sku for p in products),
        "item_group_ids": " ".join(p.group for p in products),
        "categories": " ".join(p.category for p in products),
        "product_boxes": ";".join(" ".join(str(v) for v in box) for box in boxes),
        "families": " ".join(sorted(families)),
    }


def _held_out_job(args: _Job) -> dict[str, str]:
    seed, index, product, folder = args
    # One stream per photo, seeded apart from the queries' streams (seed * 1_000_003 + index would
    # repeat them for seed 0): a string seed is hashed with SHA-512, the same in every process.
    rng = random.Random(f"held-out {seed} {index}")
    sprite = draw_sprite(product.design, PALETTE[product.colour])
    photo, box, families = held_out_photo(sprite, studio_shot(sprite), rng, phone_size(rng))
    data, orientation = held_out_jpeg(photo, rng, families)
    name = f"h{index:05d}.jpg"
    (folder / name).write_bytes(data)
    return _query_row(f"{HELD_OUT_FOLDER}/{name}", product, families, orientation, box)


def _rows_of(
    job: Callable[[_Job], dict[str, str]],
    jobs: list[_Job],
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, str]]:
    """Each photo job's CSV row, in job order, drawn by a pool of worker processes; `progress` hears
    every hundredth and the last."""
    rows: list[dict[str, str]] = []
    with ProcessPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        for row in pool.map(job, jobs, chunksize=16):
            rows.append(row)
            if progress is not None and (len(rows) % 100 == 0 or len(rows) == len(jobs)):
                progress(len(rows), len(jobs))
    return rows


def _write_csv(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    def write(handle: TextIO) -> None:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

    write_text_file_atomically(path, write)


def write_demo_data(
    out: Path,
    n_products: int = 1000,
    seed: int = 0,
    n_queries: int | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoDataReport:
    """Write the shop into `out` (replacing an earlier demo shop there), then its shopper photos: one
    per SKU by default."""
    shop = write_demo_shop(out, n_products, seed)
    queries = write_shopper_photos(out, n_products, seed, n_queries, workers, progress)
    return DemoDataReport(out, shop.products, shop.groups, queries)


def write_demo_shop(out: Path, n_products: int = 1000, seed: int = 0) -> DemoDataReport:
    """The shop alone: catalog.csv and its images in `out` (replacing an earlier demo shop there)."""
    products = generate_products(n_products, seed)
    shutil.rmtree(out / "images", ignore_errors=True)
    (out / "images").mkdir(parents=True)
    rows = []
    for product in products:
        name = f"images/{product.sku.lower()}.jpg"
        studio_shot(draw_sprite(product.design, PALETTE[product.colour])).save(out / name, quality=92)
        rows.append(
            {
                "id": product.sku,
                "title": product.title,
                "price": f"{product.price:.2f} NOK",
                "brand": product.brand,
                "product_type": product.category,
                "item_group_id": product.group,
                "image_link": name,
                "link": f"https://demo.snapbuy.invalid/p/{product.sku.lower()}",
            }
        )
    _write_csv(out / CATALOG_FILE, CATALOG_FIELDS, rows)
    return DemoDataReport(out, len(products), len({p.group for p in products}), 0)


def write_shopper_photos(
    out: Path,
    n_products: int = 1000,
    seed: int = 0,
    n_queries: int | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Shopper photos drawn as the training views are (queries/ and queries.csv) of the shop of
    `n_products` and `seed` that write_demo_shop makes: one per SKU by default. Returns their number."""
    products = generate_products(n_products, seed)
    shutil.rmtree(out / "queries", ignore_errors=True)
    (out / "queries").mkdir(parents=True)
    count = len(products) if n_queries is None else n_queries
    order = random.Random(seed).sample(range(len(products)), len(products))
    jobs = [(seed, i, products[order[i % len(products)]], out / "queries") for i in range(count)]
    queries = _rows_of(_query_job, jobs, workers, progress)
    _write_csv(out / QUERIES_FILE, QUERY_FIELDS, queries)
    return len(queries)


def write_several_products_photos(
    out: Path, n_products: int = 1000, seed: int = 0, n_photos: int = 200, workers: int | None = None
) -> int:
    """Photos of two or three of the shop's products each, of different designs (several/, and
    several.csv with each product's SKU, design, category and box, in the same order): the shop of
    `n_products` and `seed` that write_demo_data makes. Returns the number of photos."""
    products = generate_products(n_products, seed)
    shutil.rmtree(out / "several", ignore_errors=True)
    (out / "several").mkdir(parents=True)
    pick = random.Random(seed + 17)
    jobs = []
    for i in range(n_photos):
        chosen: list[DemoProduct] = []
        while len(chosen) < pick.choice((2, 3)):
            product = products[pick.randrange(len(products))]
            if all(product.group != other.group for other in chosen):
                chosen.append(product)
        jobs.append((seed, i, chosen, out / "several"))
    with ProcessPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        rows = list(pool.map(_several_job, jobs, chunksize=8))
    _write_csv(out / SEVERAL_FILE, SEVERAL_FIELDS, rows)
    return len(rows)


def write_held_out_photos(
    out: Path,
    n_products: int = 1000,
    seed: int = 0,
    n_photos: int = 1000,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Held-out shopper photos of the shop of `n_products` and `seed` that write_demo_data makes
    (held_out/, and held_out.csv with queries.csv's columns), drawn by synth/held_out.py's generator,
    which training never uses; products picked at random across the shop. Returns the number of photos."""
    products = generate_products(n_products, seed)
    folder = out / HELD_OUT_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pick = random.Random(seed + HELD_OUT_PICK_SEED)
    jobs = [(seed, i, products[pick.randrange(len(products))], folder) for i in range(n_photos)]
    rows = _rows_of(_held_out_job, jobs, workers, progress)
    _write_csv(out / HELD_OUT_FILE, QUERY_FIELDS, rows)
    return len(rows)
