"""Property tests of the feed reader (catalog/): any bytes in any declared format give a catalog or a
CatalogError naming what is wrong, never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from snapbuy.catalog import FEED_FORMATS, ImageBase, parse_feed
from snapbuy.errors import CatalogError

HEADER = b"id,title,price,image_link\n"
FEED_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400)


def parse(data: bytes, feed_format: str | None, tmp: Path) -> None:
    try:
        catalog = parse_feed(
            data,
            source="feed",
            images=ImageBase(folder=tmp, url=None),
            feed_format=feed_format,
            skip_invalid=True,
            currency="USD",
        )
    except CatalogError as exc:
        assert exc.message.startswith("feed:")
        return
    assert catalog.products and all(p.price >= 0 for p in catalog.products)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=1500), feed_format=st.sampled_from([None, *FEED_FORMATS]))
def test_arbitrary_bytes_read_or_raise_a_catalog_error(data: bytes, feed_format: str | None) -> None:
    parse(data, feed_format, Path("/nonexistent-image-root"))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(FEED_TEXT, min_size=1, max_size=6), max_size=8))
def test_arbitrary_csv_rows_under_a_real_header_read_or_raise_a_catalog_error(rows: list[list[str]]) -> None:
    lines = [",".join('"' + cell.replace('"', '""') + '"' for cell in row) for row in rows]
    parse(HEADER + "\n".join(lines).encode("utf-8"), None, Path("/nonexistent-image-root"))
