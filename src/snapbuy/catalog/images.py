"""A product's image links: which ones, and where each points (a confined local file or a URL)."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

from snapbuy.catalog.fields import check_length, text
from snapbuy.catalog.model import ImageBase, ImageRef
from snapbuy.catalog.records import RowError

MAX_ADDITIONAL_IMAGES = 10  # Google Merchant Center's limit on additional_image_link
_WEB_SCHEMES = ("http", "https")
_TOO_MANY_IMAGES = f"more than {MAX_ADDITIONAL_IMAGES} additional images; this one is not used"


def image_refs(fields: dict[str, object], base: ImageBase) -> tuple[ImageRef, ...]:
    """image_link, then additional_image_link (comma-separated text, or a list); extras get a problem."""
    main = text(fields, "image_link")
    extra = [link for link in _additional_links(fields) if link]
    refs = [resolve_image(main, base)] if main else []
    refs += [resolve_image(link, base) for link in extra[:MAX_ADDITIONAL_IMAGES]]
    refs += [ImageRef(link, None, None, _TOO_MANY_IMAGES) for link in extra[MAX_ADDITIONAL_IMAGES:]]
    return tuple(refs)


def _additional_links(fields: dict[str, object]) -> list[str]:
    value = fields.get("additional_image_link")
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise RowError("additional_image_link", "expected a list of strings")
        items = [str(item) for item in value]
    elif isinstance(value, str):
        items = value.split(",")
    else:
        items = [text(fields, "additional_image_link")]
    return [check_length("additional_image_link", item.strip()) for item in items]


def resolve_image(link: str, base: ImageBase) -> ImageRef:
    """Where `link` points: an http(s) URL, or a local file inside base.folder; else a problem."""
    parts = urlsplit(link)
    scheme = parts.scheme.lower()
    if scheme in _WEB_SCHEMES:
        if not parts.netloc:
            return _problem(link, "image URL has no host")
        return ImageRef(link, None, link, None)
    if len(scheme) <= 1 and base.url is not None:  # a relative link in a feed fetched from a URL
        joined = urljoin(base.url, link)
        if urlsplit(joined).scheme.lower() not in _WEB_SCHEMES:
            return _problem(link, f"relative image link does not resolve to an http(s) URL: '{joined}'")
        return ImageRef(link, None, joined, None)
    if len(scheme) <= 1:  # a plain path; a one-letter "scheme" is a Windows drive like 'C:\'
        return _local(link, link, base)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return _problem(link, f"file:// URL on another host '{parts.netloc}' is not supported")
        return _local(link, url2pathname(parts.path), base)
    return _problem(link, f"unsupported URL scheme '{scheme}': use http(s), a path or a file:// URL")


def _local(link: str, path_text: str, base: ImageBase) -> ImageRef:
    if base.folder is None:
        return _problem(link, "a feed fetched from a URL may point at local files only with an image root")
    try:
        root = base.folder.resolve()
        path = (root / path_text).resolve()
    except (OSError, RuntimeError, ValueError) as err:
        return _problem(link, f"image path cannot be resolved: {err}")
    if not path.is_relative_to(root):
        return _problem(link, f"image path escapes the image root {root}: it resolves to {path}")
    return ImageRef(link, path, None, None)


def _problem(link: str, reason: str) -> ImageRef:
    return ImageRef(link, None, None, reason)
