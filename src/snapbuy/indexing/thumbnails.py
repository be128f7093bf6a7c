"""Small JPEG thumbnails of the products' local catalog images, written into the version being staged,
so the server shows shoppers a product's picture (GET /v1/products/{sku}/image) from the bundle alone:
it never reads the catalog's folder, which may have moved, changed or never been on the server's
machine. Images linked by http(s) URL get none: shoppers' browsers load those from the shop."""

from __future__ import annotations

import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from snapbuy.bundle import thumbnail_path
from snapbuy.catalog import Product
from snapbuy.errors import ImageError
from snapbuy.imaging import decode_image, read_local_image
from snapbuy.indexing.options import THUMBNAILS, IndexingOptions, IndexingProgress

# A thumbnail is looked at on a phone, a few centimetres wide: quality 85 keeps it sharp at ~15 KB.
JPEG_QUALITY = 85


def local_image_paths(product: Product) -> list[Path]:
    """The product's local image files, in the feed's order (image_link first)."""
    return [ref.path for ref in product.images if ref.path is not None]


def thumbnail_jpeg(data: bytes, side: int, options: IndexingOptions) -> bytes:
    """The image upright (EXIF), its longer side at most `side`, as JPEG; ImageError when unusable.
    The decode keeps the embedding's limits on bytes and pixels, and decodes a JPEG at a reduced scale."""
    image = decode_image(
        data, max_bytes=options.max_image_bytes, max_pixels=options.max_image_pixels, max_side=side
    )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def first_thumbnail(paths: Sequence[Path], side: int, options: IndexingOptions) -> bytes | None:
    """The thumbnail of the first of `paths` that reads and decodes, or None when none does."""
    for path in paths:
        try:
            return thumbnail_jpeg(read_local_image(path, options.max_image_bytes), side, options)
        except ImageError:
            continue  # embedding met the same problem and reported it in image-errors.csv
    return None


def write_thumbnails(
    staging: Path,
    paths_by_row: Sequence[Sequence[Path]],
    options: IndexingOptions,
    progress: IndexingProgress | None = None,
) -> int:
    """Write the thumbnail of each product row whose local images (`paths_by_row[row]`) include a
    usable one into the staged version `staging`; returns how many were written. The version is
    published whole or not at all, so a run that dies midway leaves no partial set in a live one."""
    side = options.thumbnail_side
    rows = [row for row, paths in enumerate(paths_by_row) if paths]
    if side <= 0 or not rows:
        return 0
    thumbnail_path(staging, 0).parent.mkdir(exist_ok=True)
    if progress is not None:
        progress.start(THUMBNAILS, len(rows))

    def make(row: int) -> bool:
        jpeg = first_thumbnail(paths_by_row[row], side, options)
        if jpeg is not None:
            thumbnail_path(staging, row).write_bytes(jpeg)
        return jpeg is not None

    written = 0
    # Windows of rows keep the pending futures bounded however large the catalog is.
    window = max(64, 8 * options.decode_workers)
    try:
        with ThreadPoolExecutor(options.decode_workers, thread_name_prefix="thumbnail") as pool:
            for start in range(0, len(rows), window):
                chunk = rows[start : start + window]
                written += sum(pool.map(make, chunk))
                if progress is not None:
                    progress.advance(THUMBNAILS, len(chunk))
    finally:
        if progress is not None:
            progress.finish(THUMBNAILS)
    return written
