"""The phone page at `/` and its two files (api/phone_page.py): served from the package with strict
headers, self-contained, open without an API key, and written so that answers never become HTML and
photos are never stored. The page's behaviour in a real browser: test_phone_page_browser.py."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from snapbuy.api import create_app
from snapbuy.api.access import hash_key, new_key
from snapbuy.api.phone_page import PAGE_FILES, page_file
from snapbuy.config import Settings
from snapbuy.search import SearchService
from tests.api.helpers import assert_error

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"
ROUTES = {"/": "index.html", "/page/app.js": "app.js", "/page/style.css": "style.css"}
KEY = new_key()


class PageTags(HTMLParser):
    """The page's tags and attributes, and the text inside any <script> or <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_code = ""
        self._inside: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._inside = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.inline_code += data.strip()


def parsed_page() -> PageTags:
    parser = PageTags()
    parser.feed(page_file("index.html").decode("utf-8"))
    return parser


@pytest.fixture(scope="module")
def keyed(settings: Settings, sample_service: SearchService) -> Iterator[TestClient]:
    keyed_settings = settings.model_copy(update={"api_keys": [f"page:{hash_key(KEY)}"]})
    with TestClient(create_app(keyed_settings, sample_service)) as client:
        yield client


@pytest.mark.parametrize(("route", "name"), ROUTES.items())
def test_the_page_and_its_files_are_served_from_the_package_with_strict_headers(
    client: TestClient, route: str, name: str
) -> None:
    response = client.get(route)
    assert response.status_code == 200
    assert response.headers["content-type"] == PAGE_FILES[name]
    assert response.content == page_file(name)
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"


def test_the_page_is_for_phones_and_loads_only_its_own_files() -> None:
    page = parsed_page()
    tags = page.tags
    viewport = [a for t, a in tags if t == "meta" and a.get("name") == "viewport"]
    assert viewport and "width=device-width" in (viewport[0].get("content") or "")
    # The CSP forbids inline code: every script is a file of the page, and no style is inline.
    assert page.inline_code == ""
    assert [a.get("src") for t, a in tags if t == "script"] == ["page/app.js"]
    assert [a.get("href") for t, a in tags if t == "link"] == ["page/style.css"]
    assert not [t for t, a in tags if "style" in a or t == "style"]
    (camera,) = [a for t, a in tags if t == "input" and a.get("type") == "file"]
    assert camera.get("accept") == "image/*" and camera.get("capture") == "environment"


@pytest.mark.parametrize("name", PAGE_FILES)
def test_no_file_of_the_page_points_anywhere_but_this_server(name: str) -> None:
    text = page_file(name).decode("utf-8")
    # No absolute or protocol-relative address, and no style sheet that pulls in another file.
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.IGNORECASE), name
    assert "@import" not in text and "url(" not in text, name


def test_the_script_never_turns_answers_into_html_nor_stores_the_photo() -> None:
    script = page_file("app.js").decode("utf-8")
    for writes_html in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert writes_html not in script
    # Storage holds the API key and nothing else; no other store is touched at all.
    uses = re.findall(r"localStorage\.(\w+)\(([^,)]*)", script)
    assert uses and all(key == "API_KEY_STORAGE" for _, key in uses), uses
    for store in ("sessionStorage", "indexedDB", "caches.", "document.cookie"):
        assert store not in script


def test_the_files_revalidate_by_etag(client: TestClient) -> None:
    first = client.get("/page/app.js")
    etag = first.headers["etag"]
    again = client.get("/page/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == "no-cache"


def test_an_unknown_page_file_is_the_standard_404(client: TestClient) -> None:
    assert_error(client.get("/page/other.js"), 404, "not_found")


def test_the_page_needs_no_key_where_the_api_does(keyed: TestClient) -> None:
    for route in ROUTES:
        assert keyed.get(route).status_code == 200, route
    assert_error(keyed.get("/v1/index"), 401, "unauthorized")
    assert keyed.get("/v1/index", headers={"X-API-Key": KEY}).status_code == 200


def test_the_page_is_not_part_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not [p for p in paths if p.startswith("/page/")]


def test_the_page_files_ship_as_package_data() -> None:
    """A non-editable install carries them: pyproject's package data covers each one."""
    patterns = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    for name in PAGE_FILES:
        assert any(fnmatch.fnmatch(f"api/page/{name}", p) for p in patterns["snapbuy"]), name


def test_the_page_has_a_row_for_several_products_in_a_photo() -> None:
    """The answer's `groups` (one per product found in the photo) become a row of buttons, hidden until
    a photo shows several; refining one sends its box. How they behave: test_phone_page_browser.py."""
    tags = parsed_page().tags
    (row,) = [a for t, a in tags if a.get("id") == "products"]
    assert "hidden" in row
    (buttons,) = [a for t, a in tags if a.get("id") == "product-buttons"]
    assert buttons.get("role") == "group" and buttons.get("aria-labelledby") == "products-heading"
    script = page_file("app.js").decode("utf-8")
    assert "answer.groups" in script and '"aria-pressed"' in script
    for parameter in ('"box"', '"max_products"', '"q"'):
        assert f"url.searchParams.set({parameter}" in script, parameter
