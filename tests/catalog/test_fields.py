"""Header names as retailers write them, and the field length caps."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from snapbuy.catalog import read_catalog
from snapbuy.catalog.fields import FIELD_LIMITS, normalise_name, normalise_names
from snapbuy.errors import CatalogError


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("image link", "image_link"),
        ("Item Group ID", "item_group_id"),
        ("g:image_link", "image_link"),
        (" G:Item-Group-Id ", "item_group_id"),
        ("\ufeffid", "id"),
    ],
)
def test_normalise_name(written: str, key: str) -> None:
    assert normalise_name(written) == key


def test_two_spellings_of_one_field_are_a_header_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="columns 'image link' and 'g:image_link' both mean 'image_link'"):
        normalise_names(["id", "image link", "g:image_link"])
    path = tmp_path / "f.csv"
    path.write_text("id,title,price,Image Link,image_link\na,t,1 NOK,x,y\n")
    with pytest.raises(CatalogError, match="duplicate column") as info:
        read_catalog(path, skip_invalid=True)
    assert (info.value.line, info.value.field) == (1, "header")


def test_header_spaced_tsv_reads_every_product(tmp_path: Path) -> None:
    path = tmp_path / "feed.txt"
    path.write_text(
        "ID\tTitle\tPrice\timage link\titem group id\tadditional image link\n"
        "A1\tRed mug\t129.00 NOK\ta1.jpg\tMUG\ta1b.jpg,a1c.jpg\n"
        "A2\tBlue mug\t129.00 NOK\ta2.jpg\tMUG\t\n"
        "P1\tPlate\t99 NOK\tp1.jpg\t\t\n"
    )
    catalog = read_catalog(path)
    assert catalog.format == "tsv"
    assert [(p.sku, p.item_group_id, len(p.images)) for p in catalog.products] == [
        ("A1", "MUG", 3),
        ("A2", "MUG", 1),
        ("P1", None, 1),
    ]


def test_caps_table() -> None:
    assert (FIELD_LIMITS["id"], FIELD_LIMITS["title"], FIELD_LIMITS["brand"]) == (255, 500, 255)
    assert FIELD_LIMITS["product_type"] == FIELD_LIMITS["google_product_category"] == 750
    assert FIELD_LIMITS["link"] == FIELD_LIMITS["image_link"] == 2000


def test_a_200000_character_csv_field_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(f"id,title,price\na,Mug,1 NOK\nb,{'x' * 200_000},2 NOK\nc,Plate,3 NOK\n")
    with pytest.raises(CatalogError) as info:
        read_catalog(path)
    assert (info.value.line, info.value.field) == (3, "title")
    assert info.value.reason == "title is 200,000 characters; the limit is 500"
    catalog = read_catalog(path, skip_invalid=True)
    assert [p.sku for p in catalog.products] == ["a", "c"]
    assert [(r.line, r.field) for r in catalog.rejects] == [(3, "title")]


def test_csv_field_size_limit_is_put_back(tmp_path: Path) -> None:
    before = csv.field_size_limit()
    path = tmp_path / "f.csv"
    path.write_text(f"id,title,price\na,{'x' * 200_000},2 NOK\nb,t,1 NOK\n")
    read_catalog(path, skip_invalid=True)
    assert csv.field_size_limit() == before


def test_a_10_mb_jsonl_title_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    rows = [
        {"id": "a", "title": "x" * 10_485_760, "price": "1 NOK"},
        {"id": "b", "title": "Mug", "price": "1 NOK"},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    with pytest.raises(CatalogError, match="title is 10,485,760 characters; the limit is 500"):
        read_catalog(path)
    catalog = read_catalog(path, skip_invalid=True)
    assert [p.sku for p in catalog.products] == ["b"]


@pytest.mark.parametrize(
    ("field", "limit"), [("id", 255), ("brand", 255), ("product_type", 750), ("link", 2000)]
)
def test_every_capped_field(tmp_path: Path, field: str, limit: int) -> None:
    path = tmp_path / "f.jsonl"
    row = {"id": "a", "title": "t", "price": "1 NOK", field: "y" * (limit + 1)}
    path.write_text(json.dumps(row))
    with pytest.raises(CatalogError) as info:
        read_catalog(path)
    assert info.value.field == field
    row[field] = "y" * limit
    path.write_text(json.dumps(row))
    assert read_catalog(path).products
