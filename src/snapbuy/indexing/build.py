"""One indexing run: under the index's lock, read the feed, get every image's bytes (downloads through
the content cache, local files confined to the image root), embed what the embedding cache lacks (in
this process, or with the Ray engine on a Ray runtime), thumbnail the local images for the phone page,
and publish a new bundle version atomically."""

from __future__ import annotations

import csv
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from snapbuy.atomic import write_text_file_atomically
from snapbuy.bundle import (
    PRODUCTS_FILE,
    STAGING_PREFIX,
    Manifest,
    prune_versions,
    staged_version,
    write_current,
    write_manifest,
)
from snapbuy.catalog import Catalog, write_rejects
from snapbuy.catalog_views import CatalogViewMaker, view_side_of
from snapbuy.embed.base import Embedder
from snapbuy.errors import SnapbuyError
from snapbuy.fetching import ImageCache, ImageFetcher
from snapbuy.index import build_vector_index, choose_index
from snapbuy.indexing.embedding import EmbeddedJobs, JobEmbedder
from snapbuy.indexing.embedding_cache import EmbeddingCache, model_key
from snapbuy.indexing.feed import load_feed
from snapbuy.indexing.image_bytes import ImageJob, job_bytes
from snapbuy.indexing.layout import prices_by_category, stored_layout
from snapbuy.indexing.lock import index_lock
from snapbuy.indexing.options import (
    CACHE_FOLDER,
    EMBEDDING,
    FETCHING,
    IMAGE_ERRORS_FILE,
    REJECTS_FILE,
    ImageCounts,
    ImageProblem,
    IndexingOptions,
    IndexingProgress,
    IndexingReport,
)
from snapbuy.indexing.ray_engine import check_engine_options, embed_jobs_on_ray
from snapbuy.indexing.thumbnails import local_image_paths, write_thumbnails
from snapbuy.store import OUT_OF_STOCK, write_store
from snapbuy.tiers import compute_tier_bounds

EMBEDDINGS_FILE = "embeddings.sqlite"
IMAGES_FOLDER = "images"


def build_index(
    source: str | Path,
    index_root: Path,
    embedder: Embedder,
    options: IndexingOptions,
    progress: IndexingProgress | None = None,
) -> IndexingReport:
    """Index a feed (a path, or an http(s) URL) into a new bundle version under index_root and make it
    live. A second run on the same index waits up to options.lock_wait_seconds, then is refused.
    With options.engine "ray" the images become vectors on a Ray runtime (indexing/ray_engine.py);
    everything else happens here, the same for both engines."""
    check_engine_options(options)
    with index_lock(index_root, options.lock_wait_seconds):
        _remove_dead_staging(index_root)
        return _build_locked(source, index_root, embedder, options, progress)


def _remove_dead_staging(index_root: Path) -> None:
    """Holding the lock, any staging folder belongs to a run that died: nothing in it is reused."""
    for staging in index_root.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(staging, ignore_errors=True)


def _build_locked(
    source: str | Path,
    index_root: Path,
    embedder: Embedder,
    options: IndexingOptions,
    progress: IndexingProgress | None,
) -> IndexingReport:
    started = time.perf_counter()
    now = datetime.now(UTC)
    catalog = load_feed(source, options)
    jobs = [ImageJob(i, ref) for i, product in enumerate(catalog.products) for ref in product.images]
    # A bad index type, budget or view count fails now, not after minutes of embedding.
    choose_index(options.index_type, max(1, len(jobs)), embedder.dim, options.memory_budget)
    view_maker = (
        CatalogViewMaker(
            options.catalog_views, view_side_of(embedder.identity.preprocessing), options.view_seed
        )
        if options.catalog_views
        else None
    )
    embedded, counts = _embed_all(jobs, index_root, embedder, options, view_maker, progress)
    problems = _image_problems(catalog, jobs, embedded)
    if not embedded.ok.any():
        errors_file = index_root / IMAGE_ERRORS_FILE
        _write_image_errors(errors_file, problems)
        raise SnapbuyError(
            f"no product in {catalog.source} has a usable image ({_reason_summary(problems)}); "
            f"nothing indexed, the live index is unchanged; every image and its reason: {errors_file}"
        )
    products = catalog.products
    kept = sorted({jobs[int(j)].product for j in embedded.ok.nonzero()[0]})
    bounds = compute_tier_bounds(prices_by_category([products[i] for i in kept], now), options.tier_cuts)
    layout = stored_layout(
        products, [job.product for job in jobs], [job.ref.link for job in jobs], embedded.ok, bounds, now
    )
    choice = choose_index(options.index_type, len(layout.vector_rows), embedder.dim, options.memory_budget)
    out_of_stock = sum(record.availability == OUT_OF_STOCK for record in layout.records)
    with staged_version(index_root) as (version, staging):
        build_vector_index(embedded.vectors[layout.vector_rows], choice).save(staging)
        write_store(
            staging / PRODUCTS_FILE,
            layout.records,
            ((vid, row, link) for vid, (row, link) in enumerate(layout.vector_links)),
        )
        thumbnails = write_thumbnails(
            staging, [local_image_paths(products[i]) for i in layout.products], options, progress
        )
        if problems:
            _write_image_errors(staging / IMAGE_ERRORS_FILE, problems)
        if catalog.rejects:
            write_rejects(catalog.rejects, staging / REJECTS_FILE)
        write_manifest(
            staging,
            Manifest(
                version=version,
                model=embedder.identity,
                index=choice.to_manifest(),
                counts={
                    "products": len(layout.records),
                    "vectors": len(layout.vector_rows),
                    "catalog_products": len(products),
                    "rejected_rows": len(catalog.rejects),
                    "products_without_images": len(products) - len(layout.records),
                    "products_out_of_stock": out_of_stock,
                    "image_problems": len(problems),
                    "thumbnails": thumbnails,
                    **counts.to_json(),
                },
                currency=catalog.currency,
                tier_method="fixed" if options.tier_cuts is not None else "tertiles",
                tier_bounds=bounds,
                catalog={"source": catalog.source, "format": catalog.format, "sha256": catalog.sha256},
                vectors={"catalog_views": options.catalog_views, "view_seed": options.view_seed},
            ),
        )
    write_current(index_root, version)
    prune_versions(index_root, options.keep_versions)
    final = index_root / version
    return IndexingReport(
        version=version,
        path=final,
        products=len(layout.records),
        vectors=len(layout.vector_rows),
        rejected_rows=len(catalog.rejects),
        products_without_images=len(products) - len(layout.records),
        image_problems=problems,
        rejects_file=final / REJECTS_FILE if catalog.rejects else None,
        image_errors_file=final / IMAGE_ERRORS_FILE if problems else None,
        seconds=time.perf_counter() - started,
        index_description=f"{choice.kind} ({choice.factory}): {choice.reason}",
        images=counts,
        out_of_stock=out_of_stock,
        thumbnails=thumbnails,
    )


def _embed_all(
    jobs: Sequence[ImageJob],
    index_root: Path,
    embedder: Embedder,
    options: IndexingOptions,
    view_maker: CatalogViewMaker | None,
    progress: IndexingProgress | None,
) -> tuple[EmbeddedJobs, ImageCounts]:
    cache_root = index_root / CACHE_FOLDER
    image_cache = options.image_cache or cache_root / IMAGES_FOLDER
    remote = sum(job.ref.url is not None for job in jobs)
    fetched = Counter[str]()
    transferred = 0

    def count_fetch(source: str, received: int) -> None:
        nonlocal transferred
        fetched[source] += 1
        transferred += received
        if progress is not None:
            progress.advance(FETCHING)

    key = model_key(embedder.identity, options.catalog_views, options.view_seed)
    cache = EmbeddingCache(cache_root / EMBEDDINGS_FILE, key, embedder.dim)
    try:
        if progress is not None:
            if remote:
                progress.start(FETCHING, remote)
            progress.start(EMBEDDING, len(jobs))
        if options.engine == "ray":
            embedded = embed_jobs_on_ray(
                jobs, embedder.identity, cache, options, image_cache, count_fetch, progress
            )
        else:
            fetcher = ImageFetcher(options.fetch, ImageCache(image_cache)) if remote else None
            stream = job_bytes(
                jobs,
                fetcher,
                options.max_image_bytes,
                options.decode_workers,
                lambda item: count_fetch(item.source, item.bytes_transferred),
            )
            embedded = JobEmbedder(len(jobs), embedder, cache, options, view_maker, progress).run(stream)
    finally:
        cache.close()
        if progress is not None:
            if remote:
                progress.finish(FETCHING)
            progress.finish(EMBEDDING)
    counts = ImageCounts(
        embedded=embedded.embedded,
        reused=embedded.reused,
        failed=len(embedded.failures),
        downloaded=fetched["network"],
        revalidated=fetched["revalidated"],
        bytes_transferred=transferred,
    )
    return embedded, counts


def _image_problems(catalog: Catalog, jobs: Sequence[ImageJob], embedded: EmbeddedJobs) -> list[ImageProblem]:
    problems = [
        ImageProblem(product.sku, product.line, "", "no image_link")
        for product in catalog.products
        if not product.images
    ]
    for job, reason in sorted(embedded.failures.items()):
        product = catalog.products[jobs[job].product]
        problems.append(ImageProblem(product.sku, product.line, jobs[job].ref.link, reason))
    return problems


def _reason_summary(problems: Sequence[ImageProblem], shown: int = 3) -> str:
    """'10 image problems: 8 x HTTP 404, 2 x timed out (read)' with the commonest reasons first."""
    reasons = Counter(problem.reason for problem in problems)
    top = ", ".join(f"{count} x {reason}" for reason, count in reasons.most_common(shown))
    more = f", {len(reasons) - shown} more kinds" if len(reasons) > shown else ""
    return f"{len(problems)} image problems: {top}{more}" if problems else "the feed links no images"


def _write_image_errors(path: Path, problems: Sequence[ImageProblem]) -> None:
    def write(handle: TextIO) -> None:
        writer = csv.writer(handle)
        writer.writerow(["sku", "line", "image_link", "reason"])
        writer.writerows([p.sku, p.line, p.link, p.reason] for p in problems)

    write_text_file_atomically(path, write)
