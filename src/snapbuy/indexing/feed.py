"""The feed a run indexes: a local file, or an http(s) URL downloaded with the fetcher's rules."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from snapbuy.catalog import Catalog, ImageBase, parse_feed, read_catalog
from snapbuy.fetching import download_feed
from snapbuy.indexing.options import IndexingOptions


def is_feed_url(source: str | Path) -> bool:
    return isinstance(source, str) and urlsplit(source).scheme.lower() in ("http", "https")


def load_feed(source: str | Path, options: IndexingOptions) -> Catalog:
    """Read and validate the feed; relative image links of a URL feed are relative to its URL."""
    if is_feed_url(source):
        url = str(source)
        data = download_feed(url, options.fetch, max_bytes=options.max_feed_bytes)
        return parse_feed(
            data,
            source=url,
            images=ImageBase(folder=options.image_root, url=url),
            skip_invalid=options.skip_invalid,
            feed_format=options.feed_format,
            currency=options.currency,
        )
    return read_catalog(
        Path(source),
        skip_invalid=options.skip_invalid,
        feed_format=options.feed_format,
        currency=options.currency,
        image_root=options.image_root,
    )
