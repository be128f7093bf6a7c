from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from snapbuy.catalog import FEED_FORMATS, read_catalog
from snapbuy.catalog.detect import decompress, detect_format
from snapbuy.errors import CatalogError

CSV = "id,title,price\na,Mug,10 NOK\nb,Plate,12 NOK\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xef\xbb\xbf  \n<?xml version='1.0'?><rss/>", "xml"),
        (b'{"id": "a"}\n', "jsonl"),
        (b"id\ttitle\tprice, with comma\n", "tsv"),
        (b"id,title,price\n", "csv"),
        (b"id,title,price\tx\n", "csv"),
        (b"Handle,Title,Variant SKU,Variant Price\n", "shopify"),
        (b"handle,title,variant price\n", "shopify"),
    ],
)
def test_format_from_content(data: bytes, expected: str) -> None:
    assert detect_format(data, "feed") == expected


def test_suffix_does_not_matter(tmp_path: Path) -> None:
    for name in ("feed.txt", "feed.xml", "feed"):
        path = tmp_path / name
        path.write_text(CSV)
        catalog = read_catalog(path)
        assert (catalog.format, [p.sku for p in catalog.products]) == ("csv", ["a", "b"]), name


def test_gzipped_csv_keeps_the_compressed_checksum(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv.gz"
    path.write_bytes(gzip.compress(CSV.encode()))
    catalog = read_catalog(path)
    assert (catalog.format, len(catalog.products)) == ("csv", 2)
    assert catalog.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_decompression_is_capped() -> None:
    data = gzip.compress(b"x" * 10_000)
    assert decompress(data, "f", limit=10_000) == b"x" * 10_000
    with pytest.raises(CatalogError, match="unpacks to more than 9,999 bytes"):
        decompress(data, "f", limit=9_999)


def test_truncated_and_corrupt_gzip() -> None:
    data = gzip.compress(CSV.encode())
    with pytest.raises(CatalogError, match="truncated"):
        decompress(data[: len(data) // 2], "f")
    with pytest.raises(CatalogError, match="corrupt gzip"):
        decompress(data[:10] + b"garbage" * 5, "f")


def test_format_override(tmp_path: Path) -> None:
    path = tmp_path / "feed.dat"
    path.write_text("id\ttitle\tprice\na\tMug, big\t10 NOK\n")
    assert read_catalog(path).format == "tsv"
    with pytest.raises(CatalogError, match="missing required column"):
        read_catalog(path, feed_format="csv")
    with pytest.raises(CatalogError, match="unknown feed format 'yaml': use one of csv, tsv") as info:
        read_catalog(path, feed_format="yaml")
    assert info.value.field == "format"
    assert set(FEED_FORMATS) == {"csv", "tsv", "jsonl", "xml", "shopify"}
