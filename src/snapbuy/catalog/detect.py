"""What a feed's bytes are: gzip is unwrapped (within a size cap), then the format is told from content."""

from __future__ import annotations

import zlib

from snapbuy.catalog.fields import normalise_names
from snapbuy.catalog.model import FEED_FORMATS
from snapbuy.catalog.shopify import is_shopify_header
from snapbuy.errors import CatalogError

GZIP_MAGIC = b"\x1f\x8b"
MAX_DECOMPRESSED_BYTES = 4 << 30  # a gzip feed may unpack to at most this many bytes
UTF8_BOM = b"\xef\xbb\xbf"
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def decompress(data: bytes, name: str, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """The feed's bytes, gunzipped when they start with gzip's magic; CatalogError past `limit`."""
    if not data.startswith(GZIP_MAGIC):
        return data
    parts: list[bytes] = []
    size, rest = 0, data
    try:
        while rest.startswith(GZIP_MAGIC):  # a .gz file may hold several members, read one after another
            member = zlib.decompressobj(_GZIP_WBITS)
            parts.append(member.decompress(rest, limit - size + 1))
            size += len(parts[-1])
            if size > limit:
                raise CatalogError(name, 0, "file", f"gzip feed unpacks to more than {limit:,} bytes")
            if not member.eof:
                raise CatalogError(name, 0, "file", "gzip feed is truncated")
            rest = member.unused_data
    except zlib.error as err:
        raise CatalogError(name, 0, "file", f"corrupt gzip feed: {err}") from None
    return b"".join(parts)


def detect_format(data: bytes, name: str, override: str | None = None) -> str:
    """`override` when given (checked), else from the content: XML, JSON Lines, Shopify, TSV or CSV."""
    if override is not None:
        if override not in FEED_FORMATS:
            raise CatalogError(
                name, 0, "format", f"unknown feed format '{override}': use one of {', '.join(FEED_FORMATS)}"
            )
        return override
    body = data.removeprefix(UTF8_BOM).lstrip()
    if body.startswith(b"<"):
        return "xml"
    if body.startswith(b"{"):
        return "jsonl"
    header = body.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    tabs, commas = header.count("\t"), header.count(",")
    if tabs and commas <= tabs:
        return "tsv"
    try:
        keys = normalise_names(header.split(","))
    except ValueError:
        return "csv"  # the CSV reader reports the duplicate column
    return "shopify" if is_shopify_header(keys) else "csv"
