from __future__ import annotations

import csv
from pathlib import Path

import pytest

from snapbuy.catalog import read_catalog
from snapbuy.catalog.shopify import MISSING_CURRENCY
from snapbuy.errors import CatalogError

HEADER = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Variant SKU",
    "Variant Inventory Tracker", "Variant Inventory Qty", "Variant Inventory Policy", "Variant Price",
    "Variant Compare At Price", "Image Src", "Image Position", "Variant Image", "Status",
]  # fmt: skip


def _row(**values: str) -> list[str]:
    return [values.get(column.replace(" ", "_").replace("(", "").replace(")", ""), "") for column in HEADER]


ROWS = [
    # line 2: a tee in two colours and two sizes; the first row carries the product's fields
    _row(Handle="tee", Title="Logo tee", Body_HTML="<p>Soft</p>", Vendor="Acme", Type="Shirts",
         Product_Category="Apparel > Shirts", Option1_Name="Colour", Option1_Value="Red", Option2_Name="Size",
         Option2_Value="M", Variant_SKU="TEE-R-M", Variant_Inventory_Tracker="shopify",
         Variant_Inventory_Qty="3", Variant_Inventory_Policy="deny",
         Variant_Price="20.00", Variant_Compare_At_Price="25.00",
         Image_Src="https://cdn.shop/tee-front.jpg", Image_Position="1", Status="active"),
    # line 3: a second variant and the tee's third image
    _row(Handle="tee", Option1_Value="Red", Option2_Value="L", Variant_SKU="",
         Variant_Inventory_Tracker="shopify", Variant_Inventory_Qty="0", Variant_Inventory_Policy="deny",
         Variant_Price="20.00",
         Variant_Compare_At_Price="15.00", Image_Src="https://cdn.shop/tee-side.jpg", Image_Position="3"),
    # line 4: an image-only continuation row
    _row(Handle="tee", Image_Src="https://cdn.shop/tee-back.jpg", Image_Position="2"),
    # line 5: a third variant with its own image, sold on backorder
    _row(Handle="tee", Option1_Value="Blue", Option2_Value="M", Variant_SKU="TEE-B-M",
         Variant_Inventory_Tracker="shopify", Variant_Inventory_Qty="-2", Variant_Inventory_Policy="continue",
         Variant_Price="22", Variant_Image="https://cdn.shop/tee-blue.jpg"),
    # line 6: a product without variants; no Type, so Product Category is its category
    _row(Handle="mug", Title="Mug", Vendor="Acme", Product_Category="Home > Mugs", Option1_Name="Title",
         Option1_Value="Default Title", Variant_SKU="MUG-1", Variant_Price="9.50", Image_Src="mug.jpg",
         Status="active"),
    # line 7: a draft
    _row(Handle="cap", Title="Cap", Option1_Name="Title", Option1_Value="Default Title", Variant_Price="5",
         Status="draft"),
]  # fmt: skip


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_variants_become_products(tmp_path: Path) -> None:
    path = _write(tmp_path / "products_export_1.csv", ROWS)
    catalog = read_catalog(path, currency="USD", skip_invalid=True)
    assert catalog.format == "shopify"
    red_m, _, blue_m, mug = catalog.products
    assert [p.sku for p in catalog.products] == ["TEE-R-M", "tee-Red-L", "TEE-B-M", "MUG-1"]
    assert [p.line for p in catalog.products] == [2, 3, 5, 6]
    assert [p.title for p in catalog.products] == [
        "Logo tee - Red / M",
        "Logo tee - Red / L",
        "Logo tee - Blue / M",
        "Mug",
    ]
    assert {(p.brand, p.item_group_id, p.category) for p in catalog.products[:3]} == {
        ("Acme", "tee", "Shirts")
    }
    assert (mug.category, mug.item_group_id, mug.currency) == ("Home > Mugs", "mug", "USD")
    tee_images = [
        "https://cdn.shop/tee-front.jpg",
        "https://cdn.shop/tee-back.jpg",
        "https://cdn.shop/tee-side.jpg",
    ]
    assert [i.url for i in red_m.images] == tee_images
    assert [i.url for i in blue_m.images] == ["https://cdn.shop/tee-blue.jpg", *tee_images]
    assert mug.images[0].path == (tmp_path / "mug.jpg").resolve()


def test_compare_at_price_makes_a_sale_and_inventory_sets_availability(tmp_path: Path) -> None:
    catalog = read_catalog(_write(tmp_path / "p.csv", ROWS), currency="USD", skip_invalid=True)
    red_m, red_l, blue_m, mug = catalog.products
    assert (red_m.price, red_m.sale_price, red_m.availability) == (25.0, 20.0, "in_stock")
    assert (red_l.price, red_l.sale_price, red_l.availability) == (20.0, None, "out_of_stock")
    assert (blue_m.price, blue_m.sale_price, blue_m.availability) == (22.0, None, "backorder")
    assert (mug.price, mug.availability) == (9.5, "in_stock")


def test_draft_products_are_rejects(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", ROWS)
    catalog = read_catalog(path, currency="USD", skip_invalid=True)
    (reject,) = catalog.rejects
    assert (reject.line, reject.field) == (7, "status")
    assert "status is draft" in reject.reason and reject.row["Handle"] == "cap"
    with pytest.raises(CatalogError, match="status is draft") as info:
        read_catalog(path, currency="USD")
    assert info.value.line == 7


def test_a_currency_is_required(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as info:
        read_catalog(_write(tmp_path / "p.csv", ROWS[:1]))
    assert info.value.reason == MISSING_CURRENCY
    assert MISSING_CURRENCY == "Shopify exports carry no currency: pass --currency (e.g. --currency USD)"


def test_row_errors_name_the_variant_row(tmp_path: Path) -> None:
    rows = [ROWS[0], _row(Handle="tee", Option1_Value="Red", Option2_Value="S", Variant_Price="cheap")]
    with pytest.raises(CatalogError, match="unparsable price 'cheap'") as info:
        read_catalog(_write(tmp_path / "p.csv", rows), currency="USD")
    assert (info.value.line, info.value.field) == (3, "variant_price")
    rows[1] = _row(Handle="tee", Option1_Value="Red", Variant_Price="1", Variant_Inventory_Tracker="shopify",
                   Variant_Inventory_Qty="some")  # fmt: skip
    with pytest.raises(CatalogError, match="not a whole number") as info:
        read_catalog(_write(tmp_path / "p.csv", rows), currency="USD")
    assert (info.value.line, info.value.field) == (3, "variant_inventory_qty")
