from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from snapbuy.catalog import read_catalog
from snapbuy.errors import CatalogError

GMC_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">
<channel>
  <title>Shop</title>
  <link>https://shop.example</link>
  <item>
    <g:id>A1</g:id>
    <title>Red mug</title>
    <link>https://shop.example/a1</link>
    <g:price>129.00 NOK</g:price>
    <g:sale_price>99.00 NOK</g:sale_price>
    <g:sale_price_effective_date>2026-01-01T00:00+01:00/2026-02-01T00:00+01:00</g:sale_price_effective_date>
    <g:availability>in stock</g:availability>
    <g:brand>Acme</g:brand>
    <g:product_type>Kitchen &gt; Mugs</g:product_type>
    <g:image_link>img/a1.jpg</g:image_link>
    <g:additional_image_link>img/a1b.jpg</g:additional_image_link>
    <g:additional_image_link>img/a1c.jpg</g:additional_image_link>
    <g:shipping><g:country>NO</g:country></g:shipping>
  </item>
  <item>
    <g:id>B2</g:id>
    <g:title>Blue mug</g:title>
    <g:price>99 NOK</g:price>
    <g:item_group_id>MUG</g:item_group_id>
    <g:availability>out_of_stock</g:availability>
  </item>
  <item>
    <g:id>C3</g:id>
    <g:title>Green mug</g:title>
    <g:price>NOK 89</g:price>
    <g:availability>preorder</g:availability>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">
  <title>Shop</title>
  <entry>
    <id>tag:shop.example,2026:a1</id>
    <g:id>A1</g:id>
    <title>Red mug</title>
    <link rel="self" href="https://shop.example/feed/a1"/>
    <link href="https://shop.example/a1"/>
    <g:price>12.50 EUR</g:price>
  </entry>
</feed>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<rss><channel><item><title>&lol3;</title></item></channel></rss>
"""


def test_gmc_rss_with_google_elements_reads_every_item(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(GMC_RSS)
    catalog = read_catalog(path)
    assert catalog.format == "xml"
    assert [p.sku for p in catalog.products] == ["A1", "B2", "C3"]
    first, second, third = catalog.products
    assert (first.title, first.price, first.currency, first.brand) == ("Red mug", 129.0, "NOK", "Acme")
    assert (first.category, first.link, first.availability) == (
        "Kitchen > Mugs",
        "https://shop.example/a1",
        "in_stock",
    )
    assert [i.link for i in first.images] == ["img/a1.jpg", "img/a1b.jpg", "img/a1c.jpg"]
    assert first.sale_price == 99.0 and first.sale_starts is not None and first.sale_starts.hour == 0
    assert (second.item_group_id, second.availability) == ("MUG", "out_of_stock")
    assert (third.price, third.availability) == (89.0, "preorder")
    assert [p.line for p in catalog.products] == [6, 21, 28]


def test_atom_entries_with_link_href(tmp_path: Path) -> None:
    path = tmp_path / "products"  # no suffix at all
    path.write_text(ATOM)
    (product,) = read_catalog(path).products
    assert (product.sku, product.title, product.price, product.currency) == ("A1", "Red mug", 12.5, "EUR")
    assert product.link == "https://shop.example/a1"


def test_gzipped_xml(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml.gz"
    data = gzip.compress(GMC_RSS.encode())
    path.write_bytes(data)
    catalog = read_catalog(path)
    assert (catalog.format, len(catalog.products)) == ("xml", 3)


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(CatalogError, match="XML refused for safety") as info:
        read_catalog(path, skip_invalid=True)
    assert info.value.field == "file"


@pytest.mark.parametrize(
    ("content", "reason", "line"),
    [
        ("<x/>", "unrecognised XML feed <x>", 1),
        ("\n<rss><channel><item><title>t</item></rss>", "malformed XML", 2),
        ("<rss><channel></channel></rss>", "no valid products: the feed has no rows", 0),
    ],
)
def test_xml_file_errors(tmp_path: Path, content: str, reason: str, line: int) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(content)
    with pytest.raises(CatalogError, match=reason) as info:
        read_catalog(path)
    assert (info.value.line, info.value.field) == (line, "file")


def test_a_bad_item_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(GMC_RSS.replace("<g:price>99 NOK</g:price>", "<g:price>lots</g:price>"))
    with pytest.raises(CatalogError) as info:
        read_catalog(path)
    assert (info.value.line, info.value.field) == (21, "price")
    catalog = read_catalog(path, skip_invalid=True)
    assert [p.sku for p in catalog.products] == ["A1", "C3"]
    assert catalog.rejects[0].row["id"] == "B2"
