"""Batch pipeline: catalog feed -> safe image decode (threads) -> batched embedding -> published bundle."""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from snapbuy.bundle import (
    PRODUCTS_FILE,
    Manifest,
    prune_versions,
    staged_version,
    write_current,
    write_manifest,
)
from snapbuy.catalog import Catalog, ImageRef, Product, read_catalog, write_rejects
from snapbuy.catalog_views import CatalogViewMaker, view_side_of, with_views
from snapbuy.embed.base import Embedder
from snapbuy.errors import ImageError, SnapbuyError
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, load_image_file
from snapbuy.index import build_vector_index, choose_index
from snapbuy.store import ProductRecord, write_store
from snapbuy.tiers import TierBound, compute_tier_bounds, tier_index

log = logging.getLogger(__name__)

REJECTS_FILE = "rejects.csv"
IMAGE_ERRORS_FILE = "image-errors.csv"
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class IndexingOptions:
    batch_size: int = 32
    skip_invalid: bool = False
    tier_cuts: Sequence[float] | None = None  # global bounds; None = per-category tertiles
    max_image_bytes: int = LOCAL_FILE_MAX_BYTES
    max_image_pixels: int = LOCAL_FILE_MAX_PIXELS
    decode_workers: int = 2
    keep_versions: int = 3  # older versions are deleted after a successful publish
    index_type: str = "auto"  # auto | flat | ivf | ivfpq | hnsw | a faiss factory string
    memory_budget: int | None = None  # bytes of RAM for the index; None = no limit
    # Synthetic shopper-photo views per catalog image folded into its vector (catalog_views.py); 0 = off.
    catalog_views: int = 0
    view_seed: int = 0


@dataclass(frozen=True)
class ImageProblem:
    sku: str
    line: int
    link: str
    reason: str


@dataclass
class IndexingReport:
    version: str
    path: Path
    products: int
    vectors: int
    rejected_rows: int
    products_without_images: int
    image_problems: list[ImageProblem] = field(default_factory=list)
    rejects_file: Path | None = None
    image_errors_file: Path | None = None
    seconds: float = 0.0
    index_description: str = ""  # type, factory string and why it was chosen


@dataclass(frozen=True)
class _ImageJob:
    product: int  # index into catalog.products
    ref: ImageRef


@dataclass
class _Embedded:
    vectors: np.ndarray  # float32[jobs, dim]; rows of failed jobs stay zero
    ok: np.ndarray  # bool[jobs]
    problems: list[ImageProblem]


def build_index(
    catalog_path: Path,
    index_root: Path,
    embedder: Embedder,
    options: IndexingOptions,
    progress: ProgressCallback | None = None,
) -> IndexingReport:
    """Index a catalog feed into a new bundle version under index_root and make it live."""
    started = time.perf_counter()
    catalog = read_catalog(catalog_path, skip_invalid=options.skip_invalid)
    jobs = [_ImageJob(i, ref) for i, product in enumerate(catalog.products) for ref in product.images]
    # A bad index type, budget or view count fails now, not after minutes of embedding.
    choose_index(options.index_type, max(1, len(jobs)), embedder.dim, options.memory_budget)
    view_maker = (
        CatalogViewMaker(
            options.catalog_views, view_side_of(embedder.identity.preprocessing), options.view_seed
        )
        if options.catalog_views
        else None
    )
    embedded = _embed_jobs(jobs, catalog, embedder, options, view_maker, progress)
    products_with_vectors = sorted({jobs[int(j)].product for j in np.flatnonzero(embedded.ok)})
    if not products_with_vectors:
        raise SnapbuyError(
            f"no product in {catalog_path} has a readable image ({len(embedded.problems)} image problems); "
            "nothing to index"
        )
    kept = [catalog.products[i] for i in products_with_vectors]
    now = datetime.now(UTC)  # sales are judged once, at index time: tiers use the price paid now
    bounds = compute_tier_bounds(_prices_by_category(kept, now), options.tier_cuts)
    records, vector_rows, vector_links = _order_for_partitions(
        kept, products_with_vectors, jobs, embedded, bounds, now
    )

    choice = choose_index(options.index_type, len(vector_rows), embedder.dim, options.memory_budget)
    with staged_version(index_root) as (version, staging):
        build_vector_index(embedded.vectors[vector_rows], choice).save(staging)
        write_store(
            staging / PRODUCTS_FILE,
            records,
            ((vid, row, link) for vid, (row, link) in enumerate(vector_links)),
        )
        rejects_file = _write_side_files(staging, catalog, embedded.problems)
        write_manifest(
            staging,
            Manifest(
                version=version,
                model=embedder.identity,
                index=choice.to_manifest(),
                counts={
                    "products": len(records),
                    "vectors": len(vector_rows),
                    "catalog_products": len(catalog.products),
                    "rejected_rows": len(catalog.rejects),
                    "products_without_images": len(catalog.products) - len(records),
                    "image_problems": len(embedded.problems),
                },
                currency=catalog.currency,
                tier_method="fixed" if options.tier_cuts is not None else "tertiles",
                tier_bounds=bounds,
                catalog={"path": str(catalog.path), "sha256": catalog.sha256},
                vectors={"catalog_views": options.catalog_views, "view_seed": options.view_seed},
            ),
        )
    write_current(index_root, version)
    prune_versions(index_root, options.keep_versions)
    final = index_root / version
    return IndexingReport(
        version=version,
        path=final,
        products=len(records),
        vectors=len(vector_rows),
        rejected_rows=len(catalog.rejects),
        products_without_images=len(catalog.products) - len(records),
        image_problems=embedded.problems,
        rejects_file=final / REJECTS_FILE if rejects_file else None,
        image_errors_file=final / IMAGE_ERRORS_FILE if embedded.problems else None,
        seconds=time.perf_counter() - started,
        index_description=f"{choice.kind} ({choice.factory}): {choice.reason}",
    )


def _prices_by_category(products: Sequence[Product], now: datetime) -> dict[str, list[float]]:
    prices: dict[str, list[float]] = {}
    for product in products:
        prices.setdefault(product.category, []).append(product.price_paid(now))
    return prices


def _sale_window_text(product: Product) -> str | None:
    """The sale's window as ISO 'start/end' text ('..' for an open end), None when it has neither."""
    if product.sale_starts is None and product.sale_ends is None:
        return None
    starts, ends = (
        moment.isoformat() if moment else ".." for moment in (product.sale_starts, product.sale_ends)
    )
    return f"{starts}/{ends}"


def _order_for_partitions(
    kept: Sequence[Product],
    kept_indices: Sequence[int],
    jobs: Sequence[_ImageJob],
    embedded: _Embedded,
    bounds: dict[str, list[TierBound]],
    now: datetime,
) -> tuple[list[ProductRecord], list[int], list[tuple[int, str]]]:
    """Order products by (category, tier, sku) so every category and every tier is one contiguous
    range of vector ids: filtered search then needs only a range, not an id list. Tiers go by the price
    paid `now`; only a sale on `now` is recorded."""
    tiers = {p.sku: tier_index(p.price_paid(now), bounds[p.category]) for p in kept}
    order = sorted(range(len(kept)), key=lambda i: (kept[i].category, tiers[kept[i].sku], kept[i].sku))
    jobs_of: dict[int, list[int]] = {}
    for j in map(int, np.flatnonzero(embedded.ok)):
        jobs_of.setdefault(jobs[j].product, []).append(j)
    records: list[ProductRecord] = []
    vector_rows: list[int] = []
    vector_links: list[tuple[int, str]] = []
    for row, i in enumerate(order):
        p = kept[i]
        on_sale = p.sale_active(now)
        records.append(
            ProductRecord(
                row=row,
                sku=p.sku,
                title=p.title,
                brand=p.brand,
                category=p.category,
                price=p.price,
                currency=p.currency,
                tier=bounds[p.category][tiers[p.sku]].name,
                item_group_id=p.item_group_id,
                link=p.link,
                image_link=p.images[0].link if p.images else None,
                availability=p.availability,
                sale_price=p.sale_price if on_sale else None,
                sale_price_effective_date=_sale_window_text(p) if on_sale else None,
            )
        )
        for j in jobs_of[kept_indices[i]]:
            vector_rows.append(j)
            vector_links.append((row, jobs[j].ref.link))
    return records, vector_rows, vector_links


def _embed_jobs(
    jobs: Sequence[_ImageJob],
    catalog: Catalog,
    embedder: Embedder,
    options: IndexingOptions,
    view_maker: CatalogViewMaker | None,
    progress: ProgressCallback | None,
) -> _Embedded:
    result = _Embedded(np.zeros((len(jobs), embedder.dim), np.float32), np.zeros(len(jobs), bool), [])
    for product in catalog.products:
        if not product.images:
            result.problems.append(ImageProblem(product.sku, product.line, "", "no image_link"))
    done = 0
    for start, decoded in _decoded_batches(jobs, options):
        images: list[Image.Image] = []
        rows: list[int] = []
        for offset, outcome in enumerate(decoded):
            job = jobs[start + offset]
            if isinstance(outcome, str):
                product = catalog.products[job.product]
                result.problems.append(ImageProblem(product.sku, product.line, job.ref.link, outcome))
            else:
                images.append(outcome)
                rows.append(start + offset)
        if images:
            vectors = embedder.embed_images(images)
            if view_maker is not None:
                vectors = with_views(
                    vectors, _embed_views(embedder, view_maker, images, options), view_maker.views
                )
            result.vectors[rows] = vectors
            result.ok[rows] = True
        done += len(decoded)
        if progress is not None:
            progress(done, len(jobs))
    return result


def _embed_views(
    embedder: Embedder, view_maker: CatalogViewMaker, images: Sequence[Image.Image], options: IndexingOptions
) -> np.ndarray:
    """The embeddings of every view of `images`, image by image, in model calls of batch_size."""
    views = view_maker.views_of(images)
    size = options.batch_size
    return np.concatenate([embedder.embed_images(views[i : i + size]) for i in range(0, len(views), size)])


def _decode(job: _ImageJob, options: IndexingOptions) -> Image.Image | str:
    """The decoded image, or the reason it can't be used (never raises for a bad image)."""
    if job.ref.path is None:
        return job.ref.problem or "image link is not a local file"
    try:
        return load_image_file(
            job.ref.path, max_bytes=options.max_image_bytes, max_pixels=options.max_image_pixels
        )
    except ImageError as exc:
        return exc.message


def _decoded_batches(
    jobs: Sequence[_ImageJob], options: IndexingOptions
) -> Iterator[tuple[int, list[Image.Image | str]]]:
    """Decode the next batch in worker threads while the caller embeds the current one."""
    size = options.batch_size
    with ThreadPoolExecutor(max_workers=options.decode_workers, thread_name_prefix="decode") as pool:

        def submit(start: int) -> list[Future[Image.Image | str]]:
            return [pool.submit(_decode, job, options) for job in jobs[start : start + size]]

        pending = submit(0)
        for start in range(0, len(jobs), size):
            current = pending
            pending = submit(start + size) if start + size < len(jobs) else []
            yield start, [f.result() for f in current]


def _write_side_files(staging: Path, catalog: Catalog, problems: Sequence[ImageProblem]) -> bool:
    if problems:
        with (staging / IMAGE_ERRORS_FILE).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["sku", "line", "image_link", "reason"])
            writer.writerows([p.sku, p.line, p.link, p.reason] for p in problems)
    if catalog.rejects:
        write_rejects(catalog.rejects, staging / REJECTS_FILE)
        return True
    return False
