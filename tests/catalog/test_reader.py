from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from snapbuy.catalog import (
    UNCATEGORIZED,
    Catalog,
    ImageRef,
    Product,
    RejectedRow,
    read_catalog,
    write_rejects,
)
from snapbuy.errors import CatalogError

HEADER = ["id", "title", "price", "brand", "image_link", "additional_image_link", "product_type"]
ROWS = [
    ["A1", "Red mug", "129.00 NOK", "Acme", "img/a1.jpg", "img/a1b.jpg,img/a1c.jpg", "Kitchen > Mugs"],
    ["B2", "Blue mug", "NOK 99", "", "", "", ""],
]


def _write_delimited(path: Path, rows: list[list[str]], delimiter: str, header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _write_jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", "utf-8")
    return path


def _as_jsonl(rows: list[list[str]]) -> list[object]:
    return [dict(zip(HEADER, row, strict=True)) for row in rows]


def _feed(tmp_path: Path, kind: str, rows: list[list[str]]) -> Path:
    if kind == "csv":
        return _write_delimited(tmp_path / "feed.csv", rows, ",")
    if kind == "tsv":
        return _write_delimited(tmp_path / "feed.tsv", rows, "\t")
    return _write_jsonl(tmp_path / "feed.jsonl", _as_jsonl(rows))


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl"])
def test_happy_path_same_products_from_each_format(tmp_path: Path, kind: str) -> None:
    path = _feed(tmp_path, kind, ROWS)
    catalog = read_catalog(path)
    assert isinstance(catalog, Catalog)
    assert catalog.source == str(path)
    assert catalog.format == kind
    assert catalog.currency == "NOK"
    assert catalog.rejects == ()
    first_line = 1 if kind == "jsonl" else 2
    imgs = tuple(
        ImageRef(n, (tmp_path / n).resolve(), None, None)
        for n in ("img/a1.jpg", "img/a1b.jpg", "img/a1c.jpg")
    )
    assert catalog.products == (
        Product("A1", "Red mug", 129.0, "NOK", "Kitchen > Mugs", "Acme", None, None, imgs, first_line),
        Product("B2", "Blue mug", 99.0, "NOK", UNCATEGORIZED, None, None, None, (), first_line + 1),
    )


def test_txt_is_tab_separated_and_headers_are_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "feed.txt"
    path.write_text(
        " ID \tTitle\tPRICE\tCurrency\tItem_Group_ID\tLink\n x \t y \t 5 \t eur \t g1 \t http://s/x\n"
    )
    (product,) = read_catalog(path).products
    assert (product.sku, product.title, product.price, product.currency) == ("x", "y", 5.0, "EUR")
    assert (product.item_group_id, product.link) == ("g1", "http://s/x")


BAD_ROWS = [
    ["", "No id", "1 NOK", "", "", "", ""],  # line 3
    ["C3", "", "1 NOK", "", "", "", ""],  # line 4
    ["C4", "No price", "", "", "", "", ""],  # line 5
    ["C5", "Word price", "twelve NOK", "", "", "", ""],  # line 6
    ["A1", "Dup", "5 NOK", "", "", "", ""],  # line 7
    ["C7", "Euro", "5 EUR", "", "", "", ""],  # line 8
]
BAD_EXPECTED = [
    ("id", "missing"),
    ("title", "missing"),
    ("price", "missing"),
    ("price", "unparsable price 'twelve NOK'"),
    ("id", "duplicate id 'A1' (first seen on line {first})"),
    ("currency", "currency EUR differs from the catalog currency NOK"),
]


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl"])
@pytest.mark.parametrize("index", range(len(BAD_ROWS)))
def test_each_row_error_raises_with_line_and_field(tmp_path: Path, kind: str, index: int) -> None:
    path = _feed(tmp_path, kind, [ROWS[0], BAD_ROWS[index]])
    offset = 0 if kind == "jsonl" else 1
    with pytest.raises(CatalogError) as info:
        read_catalog(path)
    field, reason = BAD_EXPECTED[index]
    assert info.value.line == 2 + offset
    assert info.value.field == field
    assert reason.format(first=1 + offset) in info.value.reason
    assert str(info.value).startswith(f"{path}:{2 + offset}: field '{field}': ")
    assert path.name in str(info.value)


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl"])
def test_skip_invalid_keeps_valid_and_records_rejects(tmp_path: Path, kind: str) -> None:
    path = _feed(tmp_path, kind, [*ROWS, *BAD_ROWS])
    catalog = read_catalog(path, skip_invalid=True)
    offset = 0 if kind == "jsonl" else 1
    assert [p.sku for p in catalog.products] == ["A1", "B2"]
    assert [(r.line, r.field) for r in catalog.rejects] == [
        (3 + offset + i, field) for i, (field, _) in enumerate(BAD_EXPECTED)
    ]
    assert catalog.rejects[0].row["title"] == "No id"


def test_mixed_currency_reason_names_both(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "f.jsonl", [{"id": "a", "title": "t", "price": "1 NOK"}])
    path.write_text(path.read_text() + json.dumps({"id": "b", "title": "t", "price": 2, "currency": "EUR"}))
    with pytest.raises(CatalogError, match=r"EUR.*NOK") as info:
        read_catalog(path)
    assert (info.value.line, info.value.field) == (2, "currency")


def test_bad_jsonl_lines(tmp_path: Path) -> None:
    good = {"id": "a", "title": "t", "price": "1 NOK"}
    path = _write_jsonl(tmp_path / "f.ndjson", [good, "", "[1, 2]", "{not json", "  "])
    with pytest.raises(CatalogError) as info:
        read_catalog(path)
    assert (info.value.line, info.value.field) == (3, "row")
    assert "expected a JSON object" in info.value.reason
    catalog = read_catalog(path, skip_invalid=True)
    assert [(r.line, r.field) for r in catalog.rejects] == [(3, "row"), (4, "row")]
    assert "invalid JSON" in catalog.rejects[1].reason
    assert catalog.rejects[1].row == {"raw": "{not json"}


def test_jsonl_price_number_with_currency_key(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "f.jsonl", [{"ID": 7, "Title": " T ", "price": 12.5, "currency": "usd"}])
    (product,) = read_catalog(path).products
    assert (product.sku, product.title, product.price, product.currency) == ("7", "T", 12.5, "USD")


@pytest.mark.parametrize("missing", ["id", "title", "price"])
def test_missing_required_column_fails_at_line_1_even_when_skipping(tmp_path: Path, missing: str) -> None:
    header = [c for c in HEADER if c != missing]
    path = _write_delimited(tmp_path / "f.csv", [["x"] * len(header)], ",", header)
    with pytest.raises(CatalogError, match="missing required column") as info:
        read_catalog(path, skip_invalid=True)
    assert (info.value.line, info.value.field) == (1, missing)


def test_file_level_errors(tmp_path: Path) -> None:
    cases = {
        "missing.csv": None,
        "empty.csv": "",
        "header_only.csv": "id,title,price\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        with pytest.raises(CatalogError) as info:
            read_catalog(path)
        assert (info.value.line, info.value.field) == (0, "file"), name
        assert name in str(info.value)
    with pytest.raises(CatalogError, match="no valid products"):
        read_catalog(_feed(tmp_path, "csv", BAD_ROWS[:2]), skip_invalid=True)


def test_undecodable_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,title,price\na,ok,1 NOK\nb,bad \xff,2 NOK\n")
    with pytest.raises(CatalogError, match="UTF-8") as info:
        read_catalog(path, skip_invalid=True)
    assert (info.value.line, info.value.field) == (3, "file")


def test_extra_values_beyond_header_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,title,price\na,t,1 NOK\nb,t,1,299.00 NOK\nc,t,2 NOK,,\n")
    catalog = read_catalog(path, skip_invalid=True)
    assert [p.sku for p in catalog.products] == ["a", "c"]
    assert [(r.line, r.field) for r in catalog.rejects] == [(3, "row")]


def test_write_rejects_round_trips_through_csv(tmp_path: Path) -> None:
    rejects = [
        RejectedRow(3, "price", "unparsable price '1,0'", {"id": "x", "price": "1,0"}),
        RejectedRow(9, "row", "expected a JSON object", {"raw": [1, "ø"]}),
    ]
    out = tmp_path / "out" / "rejects.csv"
    write_rejects(rejects, out)
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["line"], r["field"], r["reason"]) for r in rows] == [
        ("3", "price", "unparsable price '1,0'"),
        ("9", "row", "expected a JSON object"),
    ]
    assert [json.loads(r["row"]) for r in rows] == [rj.row for rj in rejects]
    assert rows[0]["row"] == '{"id":"x","price":"1,0"}'
    assert [p.name for p in out.parent.iterdir()] == ["rejects.csv"]  # no temp file left behind


def test_category_fallback_order(tmp_path: Path) -> None:
    rows: list[object] = [
        {"id": "1", "title": "t", "price": "1 NOK", "category": "C", "product_type": "P"},
        {
            "id": "2",
            "title": "t",
            "price": "1 NOK",
            "category": " ",
            "product_type": "P",
            "google_product_category": "G",
        },
        {"id": "3", "title": "t", "price": "1 NOK", "google_product_category": "G"},
        {"id": "4", "title": "t", "price": "1 NOK", "product_type": ""},
    ]
    catalog = read_catalog(_write_jsonl(tmp_path / "f.jsonl", rows))
    assert [p.category for p in catalog.products] == ["C", "P", "G", UNCATEGORIZED]


def test_multiline_quoted_csv_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('id,title,price\na,"Mug\nwith\r\nlines",1 NOK\n\nb,Plate,2 NOK\nc,,3 NOK\n', newline="")
    with pytest.raises(CatalogError) as info:
        read_catalog(path)
    assert (info.value.line, info.value.field) == (7, "title")
    catalog = read_catalog(path, skip_invalid=True)
    assert [(p.sku, p.line) for p in catalog.products] == [("a", 2), ("b", 6)]
    assert catalog.products[0].title == "Mug\nwith\r\nlines"


def test_bom_header(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes("\ufeffID,Title,Price\nå,Kopp,10 NOK\n".encode())
    (product,) = read_catalog(path).products
    assert (product.sku, product.title) == ("å", "Kopp")


def test_checksum_changes_when_file_changes(tmp_path: Path) -> None:
    path = _feed(tmp_path, "csv", ROWS)
    first = read_catalog(path).sha256
    assert first == read_catalog(path).sha256
    assert len(first) == 64
    _feed(tmp_path, "csv", [ROWS[0]])
    assert read_catalog(path).sha256 != first


def test_the_price_paid_is_the_sale_price_only_within_its_window() -> None:
    product = Product("x", "y", 10.0, "EUR", "c", None, None, None, (), 1, sale_price=5.0)
    starts, ends = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 24, tzinfo=UTC)
    windowed = replace(product, sale_starts=starts, sale_ends=ends)
    assert product.price_paid(starts) == 5.0  # no window: always on
    assert windowed.price_paid(starts) == 5.0 and windowed.sale_active(starts)
    assert windowed.price_paid(ends) == windowed.price and not windowed.sale_active(ends)  # end exclusive
    assert windowed.price_paid(datetime(2026, 11, 30, tzinfo=UTC)) == windowed.price
    assert not replace(product, sale_price=None).sale_active(starts)
