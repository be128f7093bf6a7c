"""Plain helpers for the API tests: settings with every limit spelled out, test photos, requests, and
checks of the response contract (shapes, score order, tiers, filters) against exhaustive search."""

from __future__ import annotations

import io
import math
import shutil
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from snapbuy.bundle import (
    LEASES_DIR,
    Manifest,
    new_version_name,
    read_current,
    read_manifest,
    write_current,
    write_manifest,
)
from snapbuy.config import Settings
from snapbuy.imaging import decode_image
from snapbuy.search import SearchService

if TYPE_CHECKING:
    # The response class TestClient returns (starlette's test client is built on httpx2).
    from httpx2 import Response


MB = 1024 * 1024
MAX_UPLOAD = 10 * MB
MAX_PIXELS = 40_000_000
MAX_K = 50
PRODUCTS = 24  # rows in tests/data/sample-catalog/catalog.csv
GROUPS = 12  # its item_group_ids: two colours of each design, three designs per category
CATEGORIES = ["backpack", "mug", "sneaker", "watch"]
TIER_NAMES = ["budget", "mid", "premium"]

VARIANT_KEYS = {"sku", "title", "price_paid", "currency", "availability", "link", "image_link"}
ITEM_KEYS = {
    "variants",
    "variant_count",
    "sku",
    "title",
    "brand",
    "category",
    "price",
    "price_paid",
    "sale_price",
    "sale_price_effective_date",
    "currency",
    "availability",
    "tier",
    "item_group_id",
    "link",
    "image_link",
    "score",
}
AVAILABILITIES = {"in_stock", "out_of_stock", "preorder", "backorder"}
RESPONSE_KEYS = {"query", "matches", "tiers", "groups", "model", "index_version", "timings_ms"}
TIER_KEYS = {"name", "min_price", "max_price", "items"}
ORIENTATION = 274  # EXIF tag
ROTATE_90_CW = 6  # EXIF value: stored pixels must be turned 90 degrees clockwise to be upright


def make_settings(index: Path, **overrides: Any) -> Settings:
    """Settings with every limit spelled out, so SNAPBUY_* variables in the environment can't leak in."""
    values: dict[str, Any] = {
        "index": index,
        "models_dir": index.parent / "models",
        "allow_download": False,
        "device": "cpu",
        "max_upload_bytes": MAX_UPLOAD,
        "max_image_pixels": MAX_PIXELS,
        "default_k": 4,
        "max_k": MAX_K,
    }
    values.update(overrides)
    return Settings(**values)


def asymmetric_image(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """Landscape picture with distinct shapes in distinct corners: any rotation or flip changes it."""
    img = Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.rectangle((0, 0, w // 3, h // 4), fill=(220, 20, 20))
    draw.ellipse((w // 2, h // 2, w - 1, h - 1), fill=(20, 40, 220))
    draw.polygon([(0, h - 1), (w // 4, h // 2), (w // 3, h - 1)], fill=(20, 180, 40))
    draw.line((w // 2, 0, w - 1, h // 3), fill=(0, 0, 0), width=5)
    return img


def encode(img: Image.Image, fmt: str = "PNG", **save_kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()


def photo_png() -> bytes:
    return encode(asymmetric_image())


def upload(
    client: TestClient,
    data: bytes,
    params: dict[str, Any] | None = None,
    *,
    filename: str = "photo.png",
    content_type: str = "image/png",
) -> Response:
    return client.post("/v1/search", params=params, files={"image": (filename, data, content_type)})


def assert_error(response: Response, status: int, code: str) -> str:
    """The response is the JSON error envelope with this status and code; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    return message


def assert_item(item: dict[str, Any], *, scored: bool = True) -> None:
    assert set(item) == ITEM_KEYS
    assert item["variant_count"] == len(item["variants"])  # the sample's designs have few variants
    for variant in item["variants"]:  # the other colours of its design, with the same group prefix
        assert set(variant) == VARIANT_KEYS and variant["sku"] != item["sku"]
        assert variant["sku"].rsplit("-", 1)[0] == item["sku"].rsplit("-", 1)[0]
    assert isinstance(item["sku"], str) and item["sku"]
    assert isinstance(item["title"], str) and item["title"]
    assert item["category"] in CATEGORIES
    assert isinstance(item["price"], float) and item["price"] >= 0
    # The price paid is the sale price when there is one, else the regular price.
    assert item["price_paid"] == (item["price"] if item["sale_price"] is None else item["sale_price"])
    if item["sale_price"] is None:
        assert item["sale_price_effective_date"] is None
    assert item["availability"] in AVAILABILITIES
    assert isinstance(item["link"], str) and item["link"].startswith("https://shop.example/p/")
    assert isinstance(item["image_link"], str) and item["image_link"].startswith("images/")
    assert item["currency"] == "NOK"
    assert item["tier"] in TIER_NAMES
    if scored:
        assert isinstance(item["score"], float) and -1.0 - 1e-5 <= item["score"] <= 1.0 + 1e-5
    else:
        assert item["score"] is None


def assert_sorted(items: list[dict[str, Any]]) -> None:
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)


def in_price_range(price: float, low: float | None, high: float | None, *, high_inclusive: bool) -> bool:
    if low is not None and price < low:
        return False
    if high is None:
        return True
    return price <= high if high_inclusive else price < high


def assert_search_response(
    body: dict[str, Any],
    *,
    k: int,
    source: str,
    category: str | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    excluded: str | None = None,
    collapse: bool = True,
) -> None:
    """The full search contract: shapes, k, score order, tier membership, filters, exclusions; with
    `collapse` (the default), one item per design."""
    assert set(body) == RESPONSE_KEYS
    assert set(body["query"]) == {"category", "category_source", "box", "box_source", "words"}
    assert body["query"]["category_source"] == source
    box, box_source = body["query"]["box"], body["query"]["box_source"]
    if box is None:  # a text or similar-products search
        assert box_source is None
    else:
        assert box_source in ("localiser", "client", "crop grid", "photo")
        assert set(box) == {"x0", "y0", "x1", "y1"}
        assert 0 <= box["x0"] < box["x1"] <= 1 and 0 <= box["y0"] < box["y1"] <= 1
    query_category = body["query"]["category"]
    assert query_category in CATEGORIES
    if category is not None:
        assert query_category == category
    assert isinstance(body["model"], str) and body["model"]
    assert isinstance(body["index_version"], str) and body["index_version"]
    assert body["timings_ms"] and all(v >= 0 for v in body["timings_ms"].values())

    matches = body["matches"]
    assert len(matches) <= k
    if min_price is None and max_price is None and excluded is None:
        # No explicit filter: the whole index (or the whole requested category) is searched.
        everything = (3 if category else GROUPS) if collapse else (6 if category else PRODUCTS)
        assert len(matches) == min(k, everything)
    groups = [m["sku"].rsplit("-", 1)[0] for m in matches]
    if collapse:
        assert len(groups) == len(set(groups)), groups
    for item in matches:
        assert_item(item)
        assert in_price_range(item["price_paid"], min_price, max_price, high_inclusive=True)
        if category is not None:
            assert item["category"] == category
    assert_sorted(matches)
    assert len({m["sku"] for m in matches}) == len(matches)

    assert [t["name"] for t in body["tiers"]] == TIER_NAMES
    previous_max: float | None = None
    for index, tier in enumerate(body["tiers"]):
        assert set(tier) == TIER_KEYS
        # Tiers are consecutive half-open ranges covering all prices.
        assert (tier["min_price"] is None) == (index == 0)
        assert (tier["max_price"] is None) == (index == len(TIER_NAMES) - 1)
        if index > 0:
            assert tier["min_price"] == previous_max
        previous_max = tier["max_price"]
        assert len(tier["items"]) <= k
        for item in tier["items"]:
            assert_item(item)
            assert item["category"] == query_category
            assert item["tier"] == tier["name"]
            paid = item["price_paid"]
            assert in_price_range(paid, tier["min_price"], tier["max_price"], high_inclusive=False)
            assert in_price_range(paid, min_price, max_price, high_inclusive=True)
        assert_sorted(tier["items"])

    if excluded is not None:
        listed = [m["sku"] for m in matches] + [i["sku"] for t in body["tiers"] for i in t["items"]]
        assert excluded not in listed


def brute_force(
    service: SearchService,
    query: np.ndarray,
    k: int,
    keep: Callable[[str, str, float], bool],
    collapse: bool = True,
) -> list[tuple[str, float]]:
    """Reference top-k by exhaustive scoring: each product scores its best vector; with `collapse`,
    each variant group (item_group_id) is its best-scoring kept product.
    `keep(sku, category, price paid)` selects the subset searched."""
    catalog = service.catalog
    count = catalog.index.ntotal
    vectors = catalog.index.reconstruct(list(range(count)))
    scores = vectors @ np.asarray(query, dtype=np.float32)
    owners = [int(row) for row in catalog.columns.vector_product]
    records = catalog.store.products_by_rows(sorted(set(owners)))
    best: dict[str, float] = {}
    for vector_id, row in enumerate(owners):
        record = records[row]
        if keep(record.sku, record.category, record.price_paid):
            best[record.sku] = max(best.get(record.sku, -math.inf), float(scores[vector_id]))
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if collapse:
        by_sku = {record.sku: record for record in records.values()}
        firsts: dict[str, tuple[str, float]] = {}
        for sku, score in ranked:
            firsts.setdefault(by_sku[sku].item_group_id or sku, (sku, score))
        ranked = list(firsts.values())
    return ranked[:k]


def assert_same_ranking(items: list[dict[str, Any]], expected: list[tuple[str, float]]) -> None:
    assert [item["sku"] for item in items] == [sku for sku, _ in expected]
    for item, (_, score) in zip(items, expected, strict=True):
        assert item["score"] == pytest.approx(score, abs=1e-5)


def assert_matches_brute_force(
    service: SearchService,
    body: dict[str, Any],
    query: np.ndarray,
    k: int,
    *,
    min_price: float | None = None,
    max_price: float | None = None,
    category: str | None = None,
    excluded: str | None = None,
    collapse: bool = True,
) -> None:
    """Matches and every tier list equal exhaustive search over the same subset, score for score
    (over designs, not products, with `collapse`)."""

    def explicit(sku: str, cat: str, price: float) -> bool:
        return (
            sku != excluded
            and (category is None or cat == category)
            and in_price_range(price, min_price, max_price, high_inclusive=True)
        )

    assert_same_ranking(body["matches"], brute_force(service, query, k, explicit, collapse))
    query_category = body["query"]["category"]
    for tier in body["tiers"]:
        low, high = tier["min_price"], tier["max_price"]

        def in_tier(sku: str, cat: str, price: float, low: Any = low, high: Any = high) -> bool:
            return (
                explicit(sku, cat, price)
                and cat == query_category
                and in_price_range(price, low, high, high_inclusive=False)
            )

        assert_same_ranking(tier["items"], brute_force(service, query, k, in_tier, collapse))


def image_query(service: SearchService, data: bytes) -> np.ndarray:
    image = decode_image(data, max_bytes=MAX_UPLOAD, max_pixels=MAX_PIXELS)
    return service.encoder.encode_image(image)[0]


def text_query(service: SearchService, text: str) -> np.ndarray:
    vector: np.ndarray = service.embedder.embed_texts([text])[0]
    return vector


def scores_by_sku(body: dict[str, Any]) -> dict[str, float]:
    return {item["sku"]: item["score"] for item in body["matches"]}


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the background load"
        time.sleep(0.02)


def assert_still_serving(client: TestClient) -> None:
    response = upload(client, photo_png(), {"k": 2})
    assert response.status_code == 200, response.text
    assert len(response.json()["matches"]) == 2


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of zeros: 400 megapixels in under 50 KB. Written by hand because Pillow
    takes seconds to encode it."""
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    data = (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )
    assert len(data) < 64 * 1024
    return data


def writable_index_copy(source: Path, target: Path) -> Path:
    """A copy of an index bundle a test may publish into (the session's sample index is read-only)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(LEASES_DIR))
    return target


def publish_copy(root: Path, change: Callable[[Manifest], Manifest] | None = None) -> str:
    """Publish the live version again under a new name, as a new `snapbuy index` run would; `change`
    may alter its manifest (e.g. another model). Returns the new version."""
    live = root / (read_current(root) or "")
    version = new_version_name()
    shutil.copytree(live, root / version)
    manifest = replace(read_manifest(root / version), version=version)
    write_manifest(root / version, change(manifest) if change else manifest)
    write_current(root, version)
    return version
