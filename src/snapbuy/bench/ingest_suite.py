"""The `ingest` suite: indexing a feed whose image links are http URLs served from loopback, end to
end (download, decode, embed, publish), against the same images as local files, side by side in one
run with one model: the first run, an unchanged re-run, and a re-run with 1 % of the images changed."""

from __future__ import annotations

import csv
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from snapbuy.bench.report import machine
from snapbuy.bench.static_server import ServedCounts, static_server
from snapbuy.embed.base import Embedder
from snapbuy.indexing import IndexingOptions, IndexingReport, build_index
from snapbuy.results import write_results

IMAGE_SIDE = 256
CHANGED_SHARE = 0.01


@dataclass
class IngestRun:
    name: str
    seconds: float
    images_per_second: float  # feed images / seconds, end to end
    embedded: int
    reused: int
    failed: int
    downloaded: int
    revalidated: int
    bytes_transferred: int  # body bytes the indexer received
    server_requests: int
    server_body_bytes: int  # body bytes the server sent


def product_image(number: int, variant: int = 0) -> Image.Image:
    """A distinct catalog-like picture: a few coloured shapes on a light background."""
    rng = random.Random(number * 1_000_003 + variant)
    image = Image.new("RGB", (IMAGE_SIDE, IMAGE_SIDE), tuple(rng.randint(200, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randint(0, IMAGE_SIDE - 60), rng.randint(0, IMAGE_SIDE - 60)
        w, h = rng.randint(30, 160), rng.randint(30, 160)
        colour = tuple(rng.randint(0, 200) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x, y, x + w, y + h), fill=colour)
    return image


def write_shop(folder: Path, products: int) -> list[dict[str, str]]:
    """`products` distinct JPEGs under folder/images; returns feed rows linking them relatively."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for number in range(products):
        name = f"images/p{number:06d}.jpg"
        product_image(number).save(folder / name, quality=85)
        rows.append(
            {
                "id": f"SKU-{number:06d}",
                "title": f"Product {number}",
                "price": f"{10 + number % 990}.00 USD",
                "product_type": f"type {number % 20}",
                "image_link": name,
            }
        )
    return rows


def write_feed(path: Path, rows: list[dict[str, str]], base_url: str | None = None) -> Path:
    """The rows as a CSV feed; with base_url every image link becomes an absolute http URL."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            link = base_url + row["image_link"] if base_url else row["image_link"]
            writer.writerow({**row, "image_link": link})
    return path


def change_images(folder: Path, rows: list[dict[str, str]], share: float, seed: int = 0) -> int:
    """Redraw `share` of the images (at least one). Their modification times move 10 s on, so a server
    that validates by Last-Modified (whole seconds) sees the change even within the same second."""
    chosen = random.Random(seed).sample(range(len(rows)), max(1, round(share * len(rows))))
    for number in chosen:
        path = folder / rows[number]["image_link"]
        before = path.stat().st_mtime
        product_image(number, variant=1).save(path, quality=85)
        later = max(before + 10, time.time())
        os.utime(path, (later, later))
    return len(chosen)


def _timed_run(
    name: str, feed: Path, index: Path, embedder: Embedder, options: IndexingOptions, served: ServedCounts
) -> IngestRun:
    served.reset()
    started = time.perf_counter()
    report: IndexingReport = build_index(feed, index, embedder, options)
    seconds = time.perf_counter() - started
    images = report.images
    total = images.embedded + images.reused + images.failed
    return IngestRun(
        name=name,
        seconds=round(seconds, 2),
        images_per_second=round(total / seconds, 2),
        embedded=images.embedded,
        reused=images.reused,
        failed=images.failed,
        downloaded=images.downloaded,
        revalidated=images.revalidated,
        bytes_transferred=images.bytes_transferred,
        server_requests=served.requests,
        server_body_bytes=served.body_bytes,
    )


def measure_ingest(
    embedder: Embedder, products: int, workdir: Path, batch_size: int
) -> tuple[list[IngestRun], int]:
    """The four runs, in one process with one warmed-up model; returns them and the images changed."""
    shop = workdir / "shop"
    rows = write_shop(shop, products)
    local_feed = write_feed(shop / "feed-local.csv", rows)
    options = IndexingOptions(batch_size=batch_size)
    embedder.embed_images([product_image(-1)])  # warm-up: first-call costs belong to no run
    with static_server(shop) as (base_url, served):
        http_feed = write_feed(shop / "feed-http.csv", rows, base_url)
        runs = [
            _timed_run("local files, first run", local_feed, workdir / "local", embedder, options, served)
        ]
        http_index = workdir / "http"
        runs.append(_timed_run("http, first run", http_feed, http_index, embedder, options, served))
        runs.append(_timed_run("http, unchanged re-run", http_feed, http_index, embedder, options, served))
        changed = change_images(shop, rows, CHANGED_SHARE)
        runs.append(
            _timed_run("http, 1 % of images changed", http_feed, http_index, embedder, options, served)
        )
    return runs, changed


def ingest_benchmark(
    embedder: Embedder, products: int, workdir: Path, out_dir: Path, batch_size: int = 32
) -> tuple[tuple[Path, Path], list[IngestRun]]:
    runs, changed = measure_ingest(embedder, products, workdir, batch_size)
    identity = embedder.identity
    weights = " (random weights: a speed figure only)" if identity.is_random else ""
    local, first = runs[0], runs[1]
    payload: dict[str, Any] = {
        "suite": "ingest",
        "machine": machine(),
        "settings": {
            "model": identity.spec,
            "random_weights": identity.is_random,
            "products": products,
            "image_side": IMAGE_SIDE,
            "batch_size": batch_size,
            "images_changed": changed,
        },
        "runs": [asdict(run) for run in runs],
        "http_first_run_vs_local": round(first.seconds / local.seconds, 3),
    }
    lines = [
        f"# snapbuy bench: ingest ({identity.spec}{weights}, {products} products, one "
        f"{IMAGE_SIDE}x{IMAGE_SIDE} JPEG each, served from 127.0.0.1)",
        "",
        "| run | seconds | images/s end to end | vs local first run | embedded | reused | downloaded "
        "| revalidated | image bytes received | body bytes the server sent |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r.name} | {r.seconds:.1f} | {r.images_per_second:.1f} | {r.seconds / local.seconds:.2f}x "
            f"| {r.embedded} | {r.reused} | {r.downloaded} | {r.revalidated} | {r.bytes_transferred:,} "
            f"| {r.server_body_bytes:,} |"
            for r in runs
        ),
        "",
        f"{changed} images were redrawn before the last run.",
    ]
    return write_results(out_dir, "ingest", payload, "\n".join(lines) + "\n"), runs
