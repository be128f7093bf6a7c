"""Indexing feeds whose images (and the feed itself) are http URLs, against a server the tests start on
127.0.0.1: downloads, reasons for failures, revalidation on re-runs, a feed given as a URL."""

from __future__ import annotations

import csv
import hashlib
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from snapbuy.bundle import CURRENT_FILE, open_current
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.errors import SnapbuyError
from snapbuy.fetching import FetchPolicy
from snapbuy.indexing import IMAGE_ERRORS_FILE, IndexingOptions, build_index
from tests.catalog_rows import read_rows, write_rows
from tests.conftest import SAMPLE_CATALOG

FAST = IndexingOptions(batch_size=8, fetch=FetchPolicy(retries=1, backoff_seconds=0.01, read_timeout=5))


class ImageSite:
    """Serves the sample catalog's images with ETags, answering If-None-Match with 304; counts bytes."""

    def __init__(self, server: HTTPServer, folder: Path) -> None:
        self.server, self.folder = server, folder
        self.body_bytes = 0
        self.not_modified = 0
        self.broken: set[str] = set()
        server.expect_request(re.compile(r"^/img/.*")).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        name = request.path.rsplit("/", 1)[-1]
        if name in self.broken:
            return Response("gone", status=404)
        path = self.folder / name
        if not path.is_file():
            return Response("no such image", status=404)
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return Response(status=304, headers={"ETag": etag})
        self.body_bytes += len(data)
        return Response(data, content_type="image/jpeg", headers={"ETag": etag})


def remote_feed(catalog: Path, link: Callable[[str], str]) -> Path:
    """The sample feed with every image link rewritten by `link` (from its file name)."""
    rows = read_rows(catalog)
    for row in rows:
        row["image_link"] = link(row["image_link"].rsplit("/", 1)[-1])
    out = catalog.parent / "remote.csv"
    write_rows(out, rows)
    return out


@pytest.fixture
def site(httpserver: HTTPServer, catalog_copy: Path) -> ImageSite:
    return ImageSite(httpserver, catalog_copy.parent / "images")


def test_http_images_are_downloaded_indexed_and_linked_as_written(
    site: ImageSite, catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    feed = remote_feed(catalog_copy, lambda name: site.server.url_for(f"/img/{name}"))
    report = build_index(feed, tmp_path / "idx", tiny_embedder, FAST)

    assert (report.products, report.images.downloaded, report.images.failed) == (24, 24, 0)
    assert report.images.bytes_transferred == site.body_bytes > 0
    record = open_current(tmp_path / "idx")
    conn = sqlite3.connect(record.products_path)
    links = [r[0] for r in conn.execute("SELECT image_link FROM products")]
    conn.close()
    assert all(link.startswith(site.server.url_for("/img/")) for link in links)


def test_an_unchanged_rerun_transfers_no_image_bytes_and_embeds_nothing(
    site: ImageSite, catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    feed = remote_feed(catalog_copy, lambda name: site.server.url_for(f"/img/{name}"))
    build_index(feed, tmp_path / "idx", tiny_embedder, FAST)
    sent = site.body_bytes

    again = build_index(feed, tmp_path / "idx", tiny_embedder, FAST)

    assert site.body_bytes == sent  # the server sent no image bytes
    assert site.not_modified == 24
    images = again.images
    assert (images.revalidated, images.downloaded, images.bytes_transferred) == (24, 0, 0)
    assert (images.embedded, images.reused) == (0, 24)


def test_failed_downloads_are_image_errors_with_their_reason(
    site: ImageSite, catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    site.broken = {"wat-1-black.jpg", "wat-1-red.jpg"}
    feed = remote_feed(catalog_copy, lambda name: site.server.url_for(f"/img/{name}"))
    report = build_index(feed, tmp_path / "idx", tiny_embedder, FAST)

    assert report.products == 22 and report.images.failed == 2
    assert report.image_errors_file is not None
    with report.image_errors_file.open(newline="") as fh:
        reasons = {row["sku"]: row["reason"] for row in csv.DictReader(fh)}
    assert reasons == {"WAT-1-BLACK": "HTTP 404", "WAT-1-RED": "HTTP 404"}


def test_a_feed_where_nothing_could_be_fetched_says_why_and_writes_the_errors(
    site: ImageSite, catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    feed = remote_feed(catalog_copy, lambda name: site.server.url_for(f"/img/missing-{name}"))
    root = tmp_path / "idx"
    with pytest.raises(SnapbuyError, match=r"24 image problems: 24 x HTTP 404") as err:
        build_index(feed, root, tiny_embedder, FAST)
    assert str(root / IMAGE_ERRORS_FILE) in err.value.message
    assert not (root / CURRENT_FILE).exists()
    with (root / IMAGE_ERRORS_FILE).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 24 and {row["reason"] for row in rows} == {"HTTP 404"}


def test_a_feed_given_as_a_url_resolves_relative_image_links_against_it(
    site: ImageSite,
    httpserver: HTTPServer,
    catalog_copy: Path,
    tmp_path: Path,
    tiny_embedder: OpenClipEmbedder,
) -> None:
    feed = remote_feed(catalog_copy, lambda name: name)  # relative: "wat-1-black.jpg"
    (catalog_copy.parent / "images" / "feed.csv").write_bytes(feed.read_bytes())  # the site serves it

    report = build_index(httpserver.url_for("/img/feed.csv"), tmp_path / "idx", tiny_embedder, FAST)

    assert report.products == 24 and report.images.downloaded == 24
    assert open_current(tmp_path / "idx").manifest.catalog["source"] == httpserver.url_for("/img/feed.csv")


def test_local_images_outside_the_feed_folder_are_refused(
    catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    secret = tmp_path / "outside.jpg"
    secret.write_bytes((SAMPLE_CATALOG.parent / "images" / "wat-1-black.jpg").read_bytes())
    feed = remote_feed(catalog_copy, lambda name: f"images/{name}")
    text = feed.read_text(encoding="utf-8").replace("images/wat-1-red.jpg", "../outside.jpg", 1)
    feed.write_text(text.replace("images/sne-1-red.jpg", str(secret), 1), encoding="utf-8")

    report = build_index(feed, tmp_path / "idx", tiny_embedder, FAST)

    assert report.products == 22
    reasons = {p.sku: p.reason for p in report.image_problems}
    assert set(reasons) == {"WAT-1-RED", "SNE-1-RED"}
    assert all("image root" in reason for reason in reasons.values())
