"""Thumbnails of the local catalog images, written into each version by the indexing run
(indexing/thumbnails.py): small, upright JPEGs by product row, none for web images, and a run that
dies while writing them publishes nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from pytest_httpserver import HTTPServer

from snapbuy.bundle import CURRENT_FILE, STAGING_PREFIX, THUMBNAILS_FOLDER, open_current, thumbnail_path
from snapbuy.catalog import ImageRef, Product
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.indexing import THUMBNAILS, IndexingOptions, build_index
from snapbuy.indexing import thumbnails as thumbnails_module
from snapbuy.indexing.thumbnails import local_image_paths, write_thumbnails
from snapbuy.store import ProductStore
from tests.api.helpers import ORIENTATION, ROTATE_90_CW, asymmetric_image
from tests.conftest import SAMPLE_CATALOG
from tests.indexing.test_build import RecordingProgress
from tests.indexing.test_remote import ImageSite, remote_feed

OPTIONS = IndexingOptions(batch_size=8)


def save_jpeg(image: Image.Image, path: Path, orientation: int | None = None) -> Path:
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    image.save(path, format="JPEG", quality=95, exif=exif.tobytes())
    return path


def read_thumbnail(staging: Path, row: int) -> Image.Image:
    image = Image.open(io.BytesIO(thumbnail_path(staging, row).read_bytes()))
    assert image.format == "JPEG"
    return image


def test_every_sample_product_has_a_thumbnail_of_its_own_image(sample_index: Path) -> None:
    bundle = open_current(sample_index)
    assert bundle.manifest.counts["thumbnails"] == 24
    store = ProductStore(bundle.products_path)
    try:
        records = store.products_by_rows(list(range(24)))
    finally:
        store.close()
    for row, record in records.items():
        thumbnail = Image.open(bundle.thumbnail_path(row)).convert("RGB")
        assert record.image_link is not None
        original = Image.open(SAMPLE_CATALOG.parent / record.image_link).convert("RGB")
        assert thumbnail.size == original.size  # the sample's images are smaller than a thumbnail
        # The row's own picture, not a neighbour's: its mean colour matches.
        assert thumbnail.resize((1, 1)).getpixel((0, 0)) == pytest.approx(
            original.resize((1, 1)).getpixel((0, 0)), abs=4
        )


def test_a_large_photo_is_shrunk_and_turned_upright(tmp_path: Path) -> None:
    # Stored landscape 1200x800, EXIF says "turn 90 degrees clockwise": upright it is portrait.
    photo = save_jpeg(asymmetric_image((1200, 800)), tmp_path / "big.jpg", ROTATE_90_CW)
    staging = tmp_path / "version"
    staging.mkdir()
    progress = RecordingProgress()

    written = write_thumbnails(staging, [[photo]], OPTIONS, progress)

    assert written == 1
    thumbnail = read_thumbnail(staging, 0)
    assert thumbnail.height == 320 and thumbnail.width in (213, 214)
    assert len(thumbnail_path(staging, 0).read_bytes()) < 40_000
    # Upright: the red block that sat top-left in the stored pixels is now at the top right.
    top_right = thumbnail.convert("RGB").getpixel((thumbnail.width - 10, 10))
    assert isinstance(top_right, tuple) and top_right[0] > 180 and top_right[1] < 80
    assert progress.events[0] == ("start", THUMBNAILS, 1) and progress.events[-1] == ("finish", THUMBNAILS, 0)


def test_the_first_usable_local_image_is_used_and_rows_without_one_get_none(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    good = save_jpeg(Image.new("RGB", (64, 48), (10, 200, 30)), tmp_path / "good.jpg")
    staging = tmp_path / "version"
    staging.mkdir()

    written = write_thumbnails(staging, [[broken, good], [], [broken, tmp_path / "missing.jpg"]], OPTIONS)

    assert written == 1
    assert read_thumbnail(staging, 0).convert("RGB").getpixel((32, 24)) == pytest.approx((10, 200, 30), abs=6)
    assert not thumbnail_path(staging, 1).exists() and not thumbnail_path(staging, 2).exists()


def test_a_side_of_zero_writes_none(tmp_path: Path) -> None:
    good = save_jpeg(Image.new("RGB", (64, 48), (10, 200, 30)), tmp_path / "good.jpg")
    staging = tmp_path / "version"
    staging.mkdir()
    assert write_thumbnails(staging, [[good]], IndexingOptions(thumbnail_side=0)) == 0
    assert not (staging / THUMBNAILS_FOLDER).exists()


def test_only_local_images_are_thumbnail_sources() -> None:
    local = Path("/shop/images/a.jpg")
    product = Product(
        sku="A",
        title="A",
        price=1.0,
        currency="NOK",
        category="mug",
        brand=None,
        item_group_id=None,
        link=None,
        images=(
            ImageRef("https://cdn.example/a.jpg", None, "https://cdn.example/a.jpg", None),
            ImageRef("ftp://x/a.jpg", None, None, "unsupported URL scheme"),
            ImageRef("images/a.jpg", local, None, None),
        ),
        line=2,
    )
    assert local_image_paths(product) == [local]


def test_a_feed_of_web_images_gets_no_thumbnails(
    httpserver: HTTPServer, catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    site = ImageSite(httpserver, catalog_copy.parent / "images")
    feed = remote_feed(catalog_copy, lambda name: site.server.url_for(f"/img/{name}"))
    report = build_index(feed, tmp_path / "idx", tiny_embedder, OPTIONS)
    assert report.products == 24 and report.thumbnails == 0
    bundle = open_current(tmp_path / "idx")
    assert bundle.manifest.counts["thumbnails"] == 0
    assert not (bundle.path / THUMBNAILS_FOLDER).exists()


def test_a_run_that_dies_writing_thumbnails_publishes_nothing(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "idx"
    first = build_index(catalog_copy, root, tiny_embedder, OPTIONS)
    calls = 0
    real = thumbnails_module.thumbnail_jpeg

    def dies_on_the_tenth(data: bytes, side: int, options: IndexingOptions) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 10:
            raise RuntimeError("simulated crash while writing thumbnails")
        return real(data, side, options)

    monkeypatch.setattr(thumbnails_module, "thumbnail_jpeg", dies_on_the_tenth)
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_index(catalog_copy, root, tiny_embedder, OPTIONS)

    assert (root / CURRENT_FILE).read_text().strip() == first.version
    assert not [p for p in root.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and p.is_dir()) == [
        first.version
    ]
    assert open_current(root).manifest.counts["thumbnails"] == 24
