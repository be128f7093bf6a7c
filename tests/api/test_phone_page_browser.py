"""The phone page driven in real headless Chromium (Playwright) against a real `snapbuy serve` process
on 127.0.0.1, at a phone's size: a photo goes in, the photo with its box, the matches with their
catalog images and three price tiers come out; refinement words are sent with the same photo; errors
read in plain words; a server with API keys works once the key is entered.

Chromium comes from the system (Debian: `apt-get install chromium`), never from Playwright's own
download: without it these tests are skipped, saying so."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image

from snapbuy.api.access import hash_key, new_key
from tests.conftest import SAMPLE_CATALOG
from tests.serve_process import serve_process

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright, Route, ViewportSize

pytestmark = pytest.mark.slow

INSTALL_HINT = (
    "install it with `apt-get install chromium` (Debian/Ubuntu) to run the phone page's browser tests"
)
# Chromium with nothing of its own running in the background: the machines running the tests reach no
# network, and without these flags Chromium keeps trying (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
PHOTO = SAMPLE_CATALOG.parent / "images" / "wat-2-blue.jpg"
BOX_ORANGE = (0xE2, 0x51, 0x1A)  # the box's colour in style.css and app.js
KEY = new_key()
WAIT_MS = 30_000
# Run in the page before its own script: wraps fetch to note each uploaded photo's SHA-256 and URL.
RECORD_SENT_PHOTOS = """
window.sentPhotos = [];
const pageFetch = window.fetch;
window.fetch = async (input, init) => {
  const photo = init && init.body instanceof FormData ? init.body.get("image") : null;
  if (photo) {
    const digest = await crypto.subtle.digest("SHA-256", await photo.arrayBuffer());
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    window.sentPhotos.push({ url: String(input), sha256: hex });
  }
  return pageFetch(input, init);
};
"""


def chromium_path() -> str:
    """The system's Chromium (SNAPBUY_TEST_CHROMIUM names another); skips the tests, loudly, without."""
    chosen = os.environ.get("SNAPBUY_TEST_CHROMIUM")
    candidates = (
        [chosen]
        if chosen
        else ["/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")]
    )
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip(f"BROWSER TESTS SKIPPED: no Chromium at {chosen or '/usr/bin/chromium'}; {INSTALL_HINT}")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="BROWSER TESTS SKIPPED: playwright is missing; pip install -e '.[dev]'"
    )
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def server(sample_index: Path) -> Iterator[str]:
    with serve_process(sample_index) as (base, _):
        yield base


@pytest.fixture(scope="module")
def keyed_server(sample_index: Path) -> Iterator[str]:
    with serve_process(sample_index, {"SNAPBUY_API_KEYS": json.dumps([f"page:{hash_key(KEY)}"])}) as (
        base,
        _,
    ):
        yield base


class PhonePage:
    """A page at a phone's size, collecting what would show in the browser's console."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.crashes: list[str] = []
        self.console_errors: list[str] = []
        page.on("pageerror", lambda error: self.crashes.append(str(error)))
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)

    def open(self, base: str) -> None:
        response = self.page.goto(f"{base}/")
        assert response is not None and response.status == 200
        self.page.wait_for_selector("#photo-input", state="attached")

    def choose(self, files: Any) -> None:
        self.page.set_input_files("#photo-input", files)

    def wait_for_answer(self) -> None:
        self.page.wait_for_selector("#matches .card", timeout=WAIT_MS)
        self.page.wait_for_function(
            "() => document.querySelectorAll('#tiers .tier').length === 3 && "
            "document.querySelector('#status').textContent === ''",
            timeout=WAIT_MS,
        )

    def wait_for_error(self) -> str:
        self.page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
        return self.page.inner_text("#error")

    def wait_for_images(self) -> None:
        self.page.wait_for_function(
            "() => { const images = [...document.querySelectorAll('.card img.thumb')];"
            " return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0); }",
            timeout=WAIT_MS,
        )

    def assert_healthy(self) -> None:
        """No script error, and nothing refused by the page's Content-Security-Policy."""
        assert not self.crashes, self.crashes
        assert not [m for m in self.console_errors if "Content Security Policy" in m], self.console_errors


@pytest.fixture
def phone(browser: Browser) -> Iterator[PhonePage]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        yield PhonePage(context.new_page())
    finally:
        context.close()


def api_answer(base: str, photo: bytes, **params: str) -> dict[str, Any]:
    files = {"image": ("photo.jpg", photo, "image/jpeg")}
    response = httpx.post(f"{base}/v1/search", params=params, files=files, timeout=60)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def picture(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def colours(image: Image.Image) -> int:
    return len(np.unique(np.asarray(image).reshape(-1, 3), axis=0))


def test_a_photo_shows_with_its_box_the_matches_with_images_and_three_tiers(
    phone: PhonePage, server: str, tmp_path: Path
) -> None:
    page = phone.page
    phone.open(server)
    phone.choose(PHOTO)
    phone.wait_for_answer()
    phone.wait_for_images()

    # The cards are the server's answer for the same photo, in its order.
    answer = api_answer(server, PHOTO.read_bytes())
    shown = page.eval_on_selector_all("#matches .card", "cards => cards.map((c) => c.dataset.sku)")
    assert shown == [item["sku"] for item in answer["matches"]]
    tiers = page.eval_on_selector_all("#tiers .tier", "tiers => tiers.map((t) => t.dataset.tier)")
    assert tiers == [tier["name"] for tier in answer["tiers"]] == ["budget", "mid", "premium"]
    tier_skus = page.eval_on_selector_all(
        "#tiers .tier",
        "tiers => tiers.map((t) => [...t.querySelectorAll('.card')].map((c) => c.dataset.sku))",
    )
    assert tier_skus == [[item["sku"] for item in tier["items"]] for tier in answer["tiers"]]

    # Each product links to its page, opened apart from this one; its price and title are shown.
    first = answer["matches"][0]
    card = page.locator(f"#matches .card[data-sku='{first['sku']}']")
    link = card.locator("a").first
    assert link.get_attribute("href") == first["link"]
    assert link.get_attribute("target") == "_blank" and "noopener" in (link.get_attribute("rel") or "")
    assert first["title"] in card.inner_text()
    # The sample's image links are local files: every picture is the served thumbnail.
    sources = page.eval_on_selector_all(".card img.thumb", "images => images.map((i) => i.src)")
    assert sources and all(src.startswith("blob:") for src in sources)
    assert page.locator(".thumb.missing").count() == 0

    # The photo shows, with the place searched outlined in the box's colour.
    canvas = page.locator("#photo-canvas")
    assert canvas.is_visible()
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    drawn = np.asarray(picture(canvas.screenshot()), np.int16)
    assert (np.abs(drawn - np.array(BOX_ORANGE)).max(axis=2) < 40).sum() > 100
    assert "Looks like: " + answer["query"]["category"] in page.inner_text("#query-summary")

    # A phone's width: nothing sticks out sideways (tier rows scroll inside themselves).
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    image = picture(shot.read_bytes())
    assert colours(image) > 500 and float(np.asarray(image, np.float32).std()) > 20
    # The photo was kept in memory only.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    phone.assert_healthy()


def test_refining_sends_the_same_photo_again_with_the_words(phone: PhonePage, server: str) -> None:
    page = phone.page
    # Chromium does not hand Playwright the body of a multipart upload, so the test listens to the
    # page's fetch itself: the SHA-256 of each photo sent, with its URL.
    page.add_init_script(RECORD_SENT_PHOTOS)
    phone.open(server)
    phone.choose(PHOTO)
    phone.wait_for_answer()
    page.fill("#refine-text", "in red")
    page.click("#refine-button")
    page.wait_for_function("() => window.sentPhotos.length === 2", timeout=WAIT_MS)
    sent = page.evaluate("window.sentPhotos")
    assert [parse_qs(urlsplit(photo["url"]).query) for photo in sent] == [{}, {"q": ["in red"]}]
    # The same photo both times: the file itself, since it is small enough to be sent as it is.
    assert [photo["sha256"] for photo in sent] == [hashlib.sha256(PHOTO.read_bytes()).hexdigest()] * 2

    # A server that takes words answers with them; one that does not yet refuses q with a 422, which
    # the page shows in plain words, keeping the answer it had.
    page.wait_for_function(
        "() => document.querySelector('#query-summary').textContent.includes('in red')"
        " || !document.querySelector('#error').hidden",
        timeout=WAIT_MS,
    )
    if page.is_visible("#error"):
        assert "bad request" in page.inner_text("#error") and "'q'" in page.inner_text("#error")
        assert page.locator("#matches .card").count() > 0
    else:
        answer = api_answer(server, PHOTO.read_bytes(), q="in red")
        phone.wait_for_answer()
        shown = page.eval_on_selector_all("#matches .card", "cards => cards.map((c) => c.dataset.sku)")
        assert shown == [item["sku"] for item in answer["matches"]]
    phone.assert_healthy()


def test_a_file_that_is_not_an_image_is_refused_in_plain_words(phone: PhonePage, server: str) -> None:
    phone.open(server)
    phone.choose({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"a shopping list, not a photo"})
    message = phone.wait_for_error()
    assert "not an image" in message
    assert phone.page.is_hidden("#matches-section") and phone.page.is_hidden("#query")
    assert not phone.crashes


def json_error(status: int, code: str, message: str) -> Callable[[Route], None]:
    def answer(route: Route) -> None:
        body = json.dumps({"error": {"code": code, "message": message}})
        route.fulfill(status=status, content_type="application/json", body=body)

    return answer


@pytest.mark.parametrize(
    ("status", "code", "shown"),
    [
        (413, "payload_too_large", "too large"),
        (415, "unsupported_media_type", "not an image"),
        (422, "corrupt_image", "not an image"),
        (422, "invalid_parameter", "could not use this request (bad request): k must be at most 100"),
        (503, "overloaded", "server is busy, try again"),
        (504, "deadline_exceeded", "took too long"),
        (500, "internal_error", "HTTP 500"),
    ],
)
def test_error_answers_read_in_plain_words(
    phone: PhonePage, server: str, status: int, code: str, shown: str
) -> None:
    phone.page.route("**/v1/search*", json_error(status, code, "k must be at most 100"))
    phone.open(server)
    phone.choose(PHOTO)
    assert shown in phone.wait_for_error()


def test_a_network_failure_reads_in_plain_words(phone: PhonePage, server: str) -> None:
    phone.page.route("**/v1/search*", lambda route: route.abort("internetdisconnected"))
    phone.open(server)
    phone.choose(PHOTO)
    assert "Could not reach the server" in phone.wait_for_error()


def test_with_api_keys_the_page_loads_then_searches_once_given_the_key(
    phone: PhonePage, keyed_server: str
) -> None:
    page = phone.page
    phone.open(keyed_server)  # the page itself needs no key
    phone.choose(PHOTO)
    assert "needs an API key" in phone.wait_for_error()
    assert page.is_visible("#api-key")  # the key's field opened by itself

    page.fill("#api-key", KEY)
    page.click("#key-form button")  # saves the key and searches the same photo again
    phone.wait_for_answer()
    phone.wait_for_images()  # the served thumbnails are fetched with the key too
    assert page.is_hidden("#error")
    assert page.evaluate("Object.keys(localStorage)") == ["snapbuy.apiKey"]
    phone.assert_healthy()


# Two products in one photo, side by side: the test server's model has no localiser, so its answers
# hold one product each, and the page's answer for several is made up from two real ones.
LEFT_BOX = {"x0": 0.05, "y0": 0.1, "x1": 0.45, "y1": 0.9}
RIGHT_BOX = {"x0": 0.55, "y0": 0.1, "x1": 0.95, "y1": 0.9}
MUG_PHOTO = SAMPLE_CATALOG.parent / "images" / "mug-2-blue.jpg"


def as_group(
    answer: dict[str, Any], box: dict[str, float], box_source: str, score: float | None
) -> dict[str, Any]:
    query = answer["query"]
    return {
        "box": box,
        "box_source": box_source,
        "score": score,
        "category": query["category"],
        "category_source": query["category_source"],
        "matches": answer["matches"],
        "tiers": answer["tiers"],
    }


def answer_of(groups: list[dict[str, Any]], like: dict[str, Any]) -> dict[str, Any]:
    """A whole answer whose top level is its first group's, as the server writes them."""
    first = groups[0]
    query = {
        **like["query"],
        "category": first["category"],
        "category_source": first["category_source"],
        "box": first["box"],
        "box_source": first["box_source"],
    }
    return {**like, "query": query, "matches": first["matches"], "tiers": first["tiers"], "groups": groups}


def skus(group: dict[str, Any]) -> list[str]:
    return [item["sku"] for item in group["matches"]]


def orange_columns(png: bytes) -> np.ndarray:
    """The x of each pixel in the box's colour in a screenshot."""
    drawn = np.asarray(picture(png), np.int16)
    return np.nonzero(np.abs(drawn - np.array(BOX_ORANGE)).max(axis=2) < 40)[1]


def test_several_products_in_a_photo_are_numbered_and_each_shows_its_own_matches(
    phone: PhonePage, server: str
) -> None:
    page = phone.page
    watch = api_answer(server, PHOTO.read_bytes(), category="watch")
    mug = api_answer(server, MUG_PHOTO.read_bytes(), category="mug")
    first = as_group(watch, LEFT_BOX, "localiser", 0.91)
    second = as_group(mug, RIGHT_BOX, "localiser", 0.74)
    both = answer_of([first, second], watch)
    # Asked about the second product alone, with its box: the server's answer names the box as the
    # client's and holds that product only.
    second_alone = answer_of([{**second, "box_source": "client", "score": None}], mug)
    only_first = sorted(set(skus(first)) - set(skus(second)))
    only_second = sorted(set(skus(second)) - set(skus(first)))
    assert only_first and only_second and first["category"] != second["category"]

    sent: list[str] = []

    def answer(route: Route) -> None:
        url = route.request.url
        sent.append(url)
        body = second_alone if "box" in parse_qs(urlsplit(url).query) else both
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/v1/search**", answer)
    phone.open(server)
    phone.choose(PHOTO)
    phone.wait_for_answer()

    def shown_skus() -> list[str]:
        found: list[str] = page.eval_on_selector_all(
            "#matches .card", "cards => cards.map((c) => c.dataset.sku)"
        )
        return found

    def pressed() -> list[str | None]:
        return [b.get_attribute("aria-pressed") for b in page.locator("#product-buttons button").all()]

    def wait_for_pressed(index: int) -> None:
        page.wait_for_function(
            "index => document.querySelectorAll('#product-buttons button')[index]?.ariaPressed === 'true'",
            arg=index,
            timeout=WAIT_MS,
        )

    # A row of numbered buttons, one per product, the first pressed and shown.
    assert page.is_visible("#products") and "Products in your photo" in page.inner_text("#products")
    buttons = page.locator("#product-buttons button")
    # Each shows its number (as on the photo) and category, and reads as "Product 1 watch".
    assert [" ".join(b.inner_text().split()) for b in buttons.all()] == [
        f"Product 1 {first['category']}",
        f"Product 2 {second['category']}",
    ]
    assert page.locator("#product-buttons .product-number").all_inner_texts() == ["1", "2"]
    assert pressed() == ["true", "false"]
    assert parse_qs(urlsplit(sent[0]).query) == {}
    assert shown_skus() == skus(first)
    assert f"Looks like: {first['category']}" in page.inner_text("#query-summary")
    # Both boxes drawn, the selected (left) one in the accent colour.
    canvas = page.locator("#photo-canvas")
    box = canvas.bounding_box()
    assert box is not None
    # (Screenshots are at the device's scale, 2: the canvas is box["width"] * 2 pixels wide.)
    assert orange_columns(canvas.screenshot()).mean() < box["width"]

    # Tapping button 2 shows the second product's matches and tiers, and highlights its box.
    buttons.nth(1).click()
    wait_for_pressed(1)
    assert pressed() == ["false", "true"]
    assert shown_skus() == skus(second)
    cards = page.inner_text("#matches")
    assert second["matches"][0]["title"] in cards
    assert only_second[0] in shown_skus() and only_first[0] not in shown_skus()
    tier_skus = page.eval_on_selector_all(
        "#tiers .tier",
        "tiers => tiers.map((t) => [...t.querySelectorAll('.card')].map((c) => c.dataset.sku))",
    )
    assert tier_skus == [[item["sku"] for item in tier["items"]] for tier in second["tiers"]]
    assert orange_columns(canvas.screenshot()).mean() > box["width"]
    assert len(sent) == 1  # switching products asks the server nothing

    # A tap on the left box in the photo selects the first product again; then on the right box.
    canvas.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.5})
    wait_for_pressed(0)
    assert shown_skus() == skus(first)
    canvas.click(position={"x": box["width"] * 0.75, "y": box["height"] * 0.5})
    wait_for_pressed(1)
    assert shown_skus() == skus(second)

    # Refining keeps the product selected: the photo goes again with the words, its box, and for it
    # alone; the row of products stays, the second still pressed.
    page.fill("#refine-text", "in red")
    page.click("#refine-button")
    page.wait_for_function("() => document.querySelector('#query-summary').textContent.includes('in red')")
    phone.wait_for_answer()
    assert len(sent) == 2
    params = parse_qs(urlsplit(sent[1]).query)
    assert params == {
        "q": ["in red"],
        "box": [",".join(str(RIGHT_BOX[k]) for k in ("x0", "y0", "x1", "y1"))],
        "max_products": ["1"],
    }
    assert pressed() == ["false", "true"]
    assert shown_skus() == skus(second)
    summary = page.inner_text("#query-summary")
    assert summary.startswith(f"Looks like: {second['category']}") and "found in your photo" in summary

    # The first product, with the same words: the photo's own answer (every product), without a box.
    buttons.first.click()
    wait_for_pressed(0)
    phone.wait_for_answer()
    assert parse_qs(urlsplit(sent[2]).query) == {"q": ["in red"]}
    assert shown_skus() == skus(first)
    # Refining the first product sends the words alone.
    page.fill("#refine-text", "in blue")
    page.click("#refine-button")
    page.wait_for_function("() => document.querySelector('#query-summary').textContent.includes('in blue')")
    assert parse_qs(urlsplit(sent[3]).query) == {"q": ["in blue"]}
    assert pressed() == ["true", "false"]

    # Readable at a phone's width, nothing refused by the page's CSP.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.assert_healthy()


def test_one_product_in_the_photo_shows_no_row_of_products(phone: PhonePage, server: str) -> None:
    page = phone.page
    phone.open(server)
    phone.choose(PHOTO)
    phone.wait_for_answer()
    answer = api_answer(server, PHOTO.read_bytes())
    assert len(answer["groups"]) == 1 and answer["groups"][0]["matches"] == answer["matches"]
    assert page.is_hidden("#products") and page.locator("#product-buttons button").count() == 0
    phone.assert_healthy()
