from __future__ import annotations

import csv
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from snapbuy.bundle import CURRENT_FILE, STAGING_PREFIX, open_current
from snapbuy.catalog import Product
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.errors import CatalogError, SnapbuyError
from snapbuy.indexing import (
    EMBEDDING,
    IMAGE_ERRORS_FILE,
    REJECTS_FILE,
    THUMBNAILS,
    IndexingOptions,
    build_index,
)
from snapbuy.loading import build_service
from snapbuy.store import ProductStore
from snapbuy.tiers import tier_index
from tests.catalog_rows import read_rows, write_rows
from tests.conftest import ON_SALE_SKU, OUT_OF_STOCK_SKU, PREORDER_SKU, SALE_ENDS, SALE_STARTS
from tests.fakes import build_index_with

OPTIONS = IndexingOptions(batch_size=8)


class CountingEmbedder:
    """Wraps a real embedder, counts image batches, and crashes on a chosen batch."""

    def __init__(self, inner: OpenClipEmbedder, fail_on_call: int | None = None) -> None:
        self.inner, self.fail_on_call, self.calls = inner, fail_on_call, 0
        self.identity, self.dim = inner.identity, inner.dim

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError(f"simulated crash in batch {self.calls}")
        return self.inner.embed_images(images)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_texts(texts)


def versions(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_sample_index_publishes_a_complete_bundle(sample_index: Path) -> None:
    bundle = open_current(sample_index)
    manifest = bundle.manifest
    assert (sample_index / CURRENT_FILE).read_text().strip() == manifest.version
    assert manifest.counts["products"] == 24 and manifest.counts["vectors"] == 24
    assert manifest.model.is_random and manifest.model.dim == 32
    assert manifest.tier_method == "tertiles"
    assert set(manifest.tier_bounds) == {"watch", "sneaker", "mug", "backpack"}
    assert manifest.currency == "NOK"
    assert len(manifest.catalog["sha256"]) == 64
    assert not [p for p in sample_index.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_products_are_stored_in_contiguous_category_tier_partitions(sample_index: Path) -> None:
    bundle = open_current(sample_index)
    conn = sqlite3.connect(bundle.products_path)
    rows = conn.execute(
        "SELECT p.category, p.tier, COALESCE(p.sale_price, p.price) FROM vectors v "
        "JOIN products p ON p.row = v.product_row ORDER BY v.vector_id"
    ).fetchall()
    conn.close()
    keys = [(cat, [b.name for b in bundle.manifest.tier_bounds[cat]].index(tier)) for cat, tier, _ in rows]
    assert keys == sorted(keys)
    for category, tier, price in rows:
        bounds = bundle.manifest.tier_bounds[category]
        assert bounds[tier_index(price, bounds)].name == tier


def test_fixed_tier_bounds_are_recorded(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    options = IndexingOptions(batch_size=8, tier_cuts=[500.0, 2000.0])
    build_index(catalog_copy, tmp_path / "idx", tiny_embedder, options)
    manifest = open_current(tmp_path / "idx").manifest
    assert manifest.tier_method == "fixed"
    for bounds in manifest.tier_bounds.values():
        assert [(b.min_price, b.max_price) for b in bounds] == [
            (None, 500.0),
            (500.0, 2000.0),
            (2000.0, None),
        ]


def test_catalog_views_fold_into_each_image_vector(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    import faiss

    def build(name: str, views: int, seed: int = 0) -> tuple[np.ndarray, dict[str, int], int]:
        counting = CountingEmbedder(tiny_embedder)
        options = IndexingOptions(batch_size=8, catalog_views=views, view_seed=seed)
        build_index(catalog_copy, tmp_path / name, counting, options)
        bundle = open_current(tmp_path / name)
        index = faiss.read_index(str(bundle.vectors_path))
        return index.reconstruct_n(0, index.ntotal), bundle.manifest.vectors, counting.calls

    studio, studio_record, studio_calls = build("plain", 0)
    viewed, viewed_record, viewed_calls = build("viewed", 2)
    # 24 images in batches of 8: each batch embeds its studio shots, then their 16 views in two calls.
    assert (studio_calls, viewed_calls) == (3, 9)
    assert studio_record == {"catalog_views": 0, "view_seed": 0}
    assert viewed_record == {"catalog_views": 2, "view_seed": 0}
    np.testing.assert_allclose(np.linalg.norm(viewed, axis=1), 1.0, rtol=1e-5)
    assert np.all(np.sum(studio * viewed, axis=1) < 0.9999)  # every image's vector moved
    # Reproducible for a seed; another seed draws other views.
    np.testing.assert_array_equal(build("again", 2)[0], viewed)
    assert not np.allclose(build("reseeded", 2, seed=1)[0], viewed)


def test_unreadable_images_are_reported_and_left_out(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    rows = read_rows(catalog_copy)
    images = catalog_copy.parent / "images"
    (images / "wat-1-black.jpg").unlink()  # missing
    (images / "wat-1-red.jpg").write_text("not an image")  # garbage
    data = (images / "sne-1-red.jpg").read_bytes()
    (images / "sne-1-red.jpg").write_bytes(data[: len(data) // 2])  # truncated
    rows[3]["image_link"] = "ftp://cdn.example/x.jpg"  # a scheme nobody fetches
    rows[4]["image_link"] = ""  # none at all
    write_rows(catalog_copy, rows)

    report = build_index(catalog_copy, tmp_path / "idx", tiny_embedder, OPTIONS)

    assert report.products == 19
    assert report.products_without_images == 5
    bad = {p.sku for p in report.image_problems}
    assert bad == {"WAT-1-BLACK", "WAT-1-RED", "SNE-1-RED", rows[3]["id"], rows[4]["id"]}
    assert report.image_errors_file is not None
    with report.image_errors_file.open(newline="") as fh:
        logged = {row["sku"]: row["reason"] for row in csv.DictReader(fh)}
    assert set(logged) == bad
    assert "ftp" in logged[rows[3]["id"]]
    manifest = open_current(tmp_path / "idx").manifest
    assert manifest.counts["products_without_images"] == 5


def test_a_bad_row_stops_the_run_and_keeps_the_live_index(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    root = tmp_path / "idx"
    build_index(catalog_copy, root, tiny_embedder, OPTIONS)
    live = (root / CURRENT_FILE).read_text()
    rows = read_rows(catalog_copy)
    rows[5]["price"] = "twelve NOK"
    write_rows(catalog_copy, rows)

    with pytest.raises(CatalogError) as err:
        build_index(catalog_copy, root, tiny_embedder, OPTIONS)

    assert err.value.line == 7 and err.value.field == "price"
    assert "catalog.csv:7" in err.value.message
    assert (root / CURRENT_FILE).read_text() == live
    assert len(versions(root)) == 1


def test_skip_invalid_writes_rejects_next_to_the_version(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    rows = read_rows(catalog_copy)
    rows[2]["title"] = ""
    rows.append(dict(rows[0]))  # duplicate id
    write_rows(catalog_copy, rows)

    report = build_index(
        catalog_copy, tmp_path / "idx", tiny_embedder, IndexingOptions(batch_size=8, skip_invalid=True)
    )

    assert report.rejected_rows == 2 and report.products == 23
    assert report.rejects_file == report.path / REJECTS_FILE
    with report.rejects_file.open(newline="") as fh:
        rejects = list(csv.DictReader(fh))
    assert [(r["line"], r["field"]) for r in rejects] == [("4", "title"), ("26", "id")]


def test_a_crash_mid_way_leaves_no_partial_version(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    root = tmp_path / "idx"
    build_index(catalog_copy, root, tiny_embedder, OPTIONS)
    before = versions(root), (root / CURRENT_FILE).read_text()
    shutil.rmtree(root / ".cache")  # else every image is reused and nothing is embedded to crash in

    with pytest.raises(RuntimeError, match="simulated crash"):
        build_index(catalog_copy, root, CountingEmbedder(tiny_embedder, fail_on_call=2), OPTIONS)

    assert (versions(root), (root / CURRENT_FILE).read_text()) == before
    assert not [p for p in root.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert open_current(root).manifest.counts["products"] == 24


def test_no_readable_image_at_all_is_an_error(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    for image in (catalog_copy.parent / "images").iterdir():
        image.write_bytes(b"garbage")
    with pytest.raises(
        SnapbuyError, match=r"no product .* has a usable image \(24 image problems: 24 x "
    ) as err:
        build_index(catalog_copy, tmp_path / "idx", tiny_embedder, OPTIONS)
    assert not (tmp_path / "idx" / CURRENT_FILE).exists()
    errors_file = tmp_path / "idx" / IMAGE_ERRORS_FILE
    assert str(errors_file) in err.value.message
    with errors_file.open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 24


def test_additional_images_give_a_product_several_vectors(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    rows = read_rows(catalog_copy)
    for row in rows:
        row["additional_image_link"] = ""
    rows[0]["additional_image_link"] = "images/wat-2-blue.jpg,images/wat-3-tan.jpg"
    write_rows(catalog_copy, rows)

    report = build_index(catalog_copy, tmp_path / "idx", tiny_embedder, OPTIONS)

    assert (report.products, report.vectors) == (24, 26)
    conn = sqlite3.connect(report.path / "products.sqlite")
    owned = conn.execute(
        "SELECT count(*) FROM vectors v JOIN products p ON p.row = v.product_row WHERE p.sku = ?",
        (rows[0]["id"],),
    ).fetchone()[0]
    conn.close()
    assert owned == 3


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []

    def start(self, stage: str, total: int) -> None:
        self.events.append(("start", stage, total))

    def advance(self, stage: str, count: int = 1) -> None:
        self.events.append(("advance", stage, count))

    def finish(self, stage: str) -> None:
        self.events.append(("finish", stage, 0))


def test_progress_is_reported_up_to_the_total(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    progress = RecordingProgress()
    build_index(catalog_copy, tmp_path / "idx", tiny_embedder, OPTIONS, progress=progress)
    # Embedding, then the thumbnails of the local images, each stage up to its total.
    starts = [(stage, total) for kind, stage, total in progress.events if kind == "start"]
    finishes = [stage for kind, stage, _ in progress.events if kind == "finish"]
    assert starts == [(EMBEDDING, 24), (THUMBNAILS, 24)] and finishes == [EMBEDDING, THUMBNAILS]
    for stage in (EMBEDDING, THUMBNAILS):
        assert sum(count for kind, s, count in progress.events if kind == "advance" and s == stage) == 24


def test_old_versions_are_pruned_after_publishing(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    root = tmp_path / "idx"
    options = IndexingOptions(batch_size=8, keep_versions=2)
    published = [build_index(catalog_copy, root, tiny_embedder, options).version for _ in range(3)]
    assert versions(root) == sorted(published[1:])
    assert open_current(root).manifest.version == published[-1]


def test_an_approximate_index_type_is_built_recorded_and_searchable(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    from snapbuy.index.exact_rows import EXACT_ROWS_FILE
    from snapbuy.loading import build_service
    from snapbuy.search import SearchOptions

    root = tmp_path / "idx"
    report = build_index(catalog_copy, root, tiny_embedder, IndexingOptions(batch_size=8, index_type="hnsw"))
    assert report.index_description.startswith("hnsw (HNSW32,SQ8): requested")
    bundle = open_current(root)
    assert bundle.manifest.index["type"] == "hnsw" and bundle.manifest.index["factory"] == "HNSW32,SQ8"
    assert bundle.manifest.index["params"]["effort"]["base"] == 64
    assert (bundle.path / EXACT_ROWS_FILE).is_file()
    service = build_service(bundle, tiny_embedder)
    try:
        result = service.similar(read_rows(catalog_copy)[0]["id"], SearchOptions(k=3))
        assert result.matches and all(item.sku != read_rows(catalog_copy)[0]["id"] for item in result.matches)
        assert result.tiers and all(
            item.category == result.category for t in result.tiers for item in t.items
        )
    finally:
        service.close()


def test_a_bad_index_type_fails_before_any_embedding(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    embedder = CountingEmbedder(tiny_embedder)
    with pytest.raises(SnapbuyError, match="index type"):
        build_index(catalog_copy, tmp_path / "idx", embedder, IndexingOptions(index_type="IVF,banana"))
    assert embedder.calls == 0 and not (tmp_path / "idx" / CURRENT_FILE).exists()


def test_an_unchanged_rerun_reuses_every_embedding(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    root = tmp_path / "idx"
    first = build_index(catalog_copy, root, tiny_embedder, OPTIONS)
    embedder = CountingEmbedder(tiny_embedder)
    again = build_index(catalog_copy, root, embedder, OPTIONS)

    assert (first.images.embedded, first.images.reused) == (24, 0)
    assert (again.images.embedded, again.images.reused, again.images.failed) == (0, 24, 0)
    assert embedder.calls == 0
    counts = open_current(root).manifest.counts
    assert (counts["images_embedded"], counts["images_reused"]) == (0, 24)
    first_vectors = build_service(open_current(root), tiny_embedder)
    try:
        assert first_vectors.catalog.index.ntotal == 24
    finally:
        first_vectors.close()


def test_only_a_changed_image_is_embedded_again(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    root = tmp_path / "idx"
    build_index(catalog_copy, root, tiny_embedder, OPTIONS)
    picture = catalog_copy.parent / "images" / "wat-1-black.jpg"
    Image.open(picture).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(picture)

    report = build_index(catalog_copy, root, tiny_embedder, OPTIONS)

    assert (report.images.embedded, report.images.reused) == (1, 23)


def test_a_crashed_run_resumes_from_its_finished_batches(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    root = tmp_path / "idx"
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_index(catalog_copy, root, CountingEmbedder(tiny_embedder, fail_on_call=3), OPTIONS)
    assert not (root / CURRENT_FILE).exists()

    resumed = CountingEmbedder(tiny_embedder)
    report = build_index(catalog_copy, root, resumed, OPTIONS)

    # Batches 1 and 2 (16 images) were committed before batch 3 crashed; only the last 8 are embedded.
    assert (report.images.embedded, report.images.reused) == (8, 16)
    assert resumed.calls == 1


def test_images_with_identical_bytes_are_embedded_once(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    rows = read_rows(catalog_copy)
    for row in rows[1:4]:
        row["image_link"] = rows[0]["image_link"]  # variants sharing one picture
    write_rows(catalog_copy, rows)

    report = build_index(catalog_copy, tmp_path / "idx", tiny_embedder, OPTIONS)

    assert (report.images.embedded, report.images.reused, report.products) == (21, 3, 24)


def test_a_different_model_never_reuses_another_models_embeddings(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    from tests.fakes import HashEmbedder

    root = tmp_path / "idx"
    build_index(catalog_copy, root, tiny_embedder, OPTIONS)
    report = build_index(catalog_copy, root, HashEmbedder(), OPTIONS)
    assert (report.images.embedded, report.images.reused) == (24, 0)


def test_stock_and_sales_are_recorded_and_tiers_use_the_price_paid(stocked_sample_index: Path) -> None:
    bundle = open_current(stocked_sample_index)
    store = ProductStore(bundle.products_path)
    try:
        on_sale, out, preorder = (
            store.product_by_sku(sku) for sku in (ON_SALE_SKU, OUT_OF_STOCK_SKU, PREORDER_SKU)
        )
    finally:
        store.close()
    assert on_sale is not None and out is not None and preorder is not None
    assert (on_sale.price, on_sale.sale_price, on_sale.price_paid) == (1540.0, 599.0, 599.0)
    assert on_sale.sale_price_effective_date == f"{SALE_STARTS.isoformat()}/{SALE_ENDS.isoformat()}"
    watch_bounds = bundle.manifest.tier_bounds["watch"]
    # Tertiles of the prices paid (599 is the cheapest watch), and the sale puts it in the cheapest tier.
    assert watch_bounds[0].max_price is not None and watch_bounds[0].max_price < 650.0
    assert on_sale.tier == watch_bounds[tier_index(599.0, watch_bounds)].name == "budget"
    assert (out.availability, preorder.availability) == ("out_of_stock", "preorder")
    assert out.sale_price is None and out.sale_price_effective_date is None


@pytest.mark.parametrize(
    ("starts", "ends", "recorded"),
    [
        (datetime(2020, 1, 1, tzinfo=UTC), None, "2020-01-01T00:00:00+00:00/.."),
        (None, datetime(2099, 1, 1, tzinfo=UTC), "../2099-01-01T00:00:00+00:00"),
        (None, None, None),
    ],
)
def test_a_running_sale_is_recorded_with_its_window_as_given(
    catalog_copy: Path,
    tmp_path: Path,
    tiny_embedder: OpenClipEmbedder,
    starts: datetime | None,
    ends: datetime | None,
    recorded: str | None,
) -> None:
    def on_sale(product: Product) -> Product:
        return replace(product, sale_price=1.0, sale_starts=starts, sale_ends=ends)

    build_index_with(catalog_copy, tmp_path / "index", tiny_embedder, OPTIONS, on_sale)
    store = ProductStore(open_current(tmp_path / "index").products_path)
    try:
        record = store.product_by_sku("WAT-1-RED")
    finally:
        store.close()
    assert record is not None
    assert (record.sale_price, record.sale_price_effective_date) == (1.0, recorded)


def test_a_sale_not_running_at_index_time_is_not_recorded(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    future = datetime(2099, 1, 1, tzinfo=UTC)

    def future_sale(product: Product) -> Product:
        return replace(product, sale_price=1.0, sale_starts=future)

    build_index_with(catalog_copy, tmp_path / "index", tiny_embedder, OPTIONS, future_sale)
    store = ProductStore(open_current(tmp_path / "index").products_path)
    try:
        record = store.product_by_sku("WAT-1-RED")
    finally:
        store.close()
    assert record is not None and record.sale_price is None and record.price_paid == record.price == 630.0
