"""Downloading catalog images and feed files (limits, retries, a revalidated cache) and reading local
image files safely. See docs/fetching.md."""

from snapbuy.fetching.cache import CachedImage, ImageCache
from snapbuy.fetching.feed import download_feed
from snapbuy.fetching.fetcher import ImageFetcher
from snapbuy.fetching.policy import Fetched, FetchPolicy, FetchStats
from snapbuy.imaging import read_local_image

__all__ = [
    "CachedImage",
    "FetchPolicy",
    "FetchStats",
    "Fetched",
    "ImageCache",
    "ImageFetcher",
    "download_feed",
    "read_local_image",
]
