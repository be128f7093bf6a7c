"""The phone page at `/`: plain HTML, one script and one style sheet, shipped inside the package
(snapbuy/api/page/) and served as they are: no build step, nothing fetched from elsewhere. The page
and its files need no API key (access.py), since a browser loads them before it can hold one; the
page sends the key it is given with its API calls."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request, Response

from snapbuy.api.http_cache import cacheable_response

# The folder of the page's files inside the snapbuy.api package (package data in pyproject.toml).
PAGE_FOLDER = "page"
# Each served file: its name in that folder and its media type.
PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# Only the page's own script and styles run; it talks to this server alone. Product pictures may
# come from the shop's image host (any http(s) URL a feed links) or, for the served thumbnails and the
# shopper's own photo, from blob: URLs the script makes.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: https: http:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Image hosts and product pages learn nothing about where the shopper came from.
    "Referrer-Policy": "no-referrer",
}
# Revalidated on every load (a 304 when unchanged), so a server upgrade reaches phones at once.
PAGE_CACHE_CONTROL = "no-cache"

phone_page_router = APIRouter(include_in_schema=False)


def page_file(name: str) -> bytes:
    """A file of the page, read from the installed package."""
    return files("snapbuy.api").joinpath(PAGE_FOLDER).joinpath(name).read_bytes()


def page_response(request: Request, name: str) -> Response:
    return cacheable_response(request, page_file(name), PAGE_FILES[name], PAGE_CACHE_CONTROL, PAGE_HEADERS)


@phone_page_router.get("/")
def phone_page(request: Request) -> Response:
    return page_response(request, "index.html")


@phone_page_router.get("/page/app.js")
def page_script(request: Request) -> Response:
    return page_response(request, "app.js")


@phone_page_router.get("/page/style.css")
def page_styles(request: Request) -> Response:
    return page_response(request, "style.css")
