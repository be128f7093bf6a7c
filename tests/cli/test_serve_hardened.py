"""A real `snapbuy serve` process on 127.0.0.1, set up as for a public deployment: API keys, a rate
limit, CORS, docs off, JSON logs and /metrics; a second one with a search deadline; a third, with the
defaults, for upload memory and for schemathesis over the live OpenAPI. The same points are tested
in-process under tests/api/; these check that the command wires them up."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from PIL import Image

from snapbuy.api.access import hash_key, new_key
from snapbuy.bench.server_suite import adversarial_uploads, memory_mb
from tests.api.helpers import encode, photo_png
from tests.api.test_upload import MALFORMED, image_body
from tests.schema_fuzz import fuzz_every_operation
from tests.serve_process import serve_process

pytestmark = pytest.mark.slow

APP_KEY = new_key()  # the shop's app: a few requests per test
BURST_KEY = new_key()  # spent on the rate-limit test alone, so the other tests never meet the limit
SHOP = "https://shop.example"
BURST = 60
EXAMPLES_PER_OPERATION = 25
MB = 1024 * 1024


def locked_down_env() -> dict[str, str]:
    return {
        "SNAPBUY_API_KEYS": json.dumps([f"app:{hash_key(APP_KEY)}", f"burst:{hash_key(BURST_KEY)}"]),
        "SNAPBUY_RATE_LIMIT": "0.2",
        "SNAPBUY_RATE_BURST": str(BURST),
        "SNAPBUY_CORS_ORIGINS": json.dumps([SHOP]),
        "SNAPBUY_API_DOCS": "false",
        "SNAPBUY_LOG_FORMAT": "json",
    }


@pytest.fixture(scope="module")
def locked(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log_path = tmp_path_factory.mktemp("locked") / "server.log"
    with log_path.open("wb") as log, serve_process(sample_index, locked_down_env(), log) as (base, _):
        yield base, log_path


@pytest.fixture(scope="module")
def plain(sample_index: Path) -> Iterator[tuple[str, int]]:
    with serve_process(sample_index) as (base, proc):
        yield base, proc.pid


def search(base: str, photo: bytes, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    files = {"image": ("photo.png", photo, "image/png")}
    return httpx.post(f"{base}/v1/search", params=params, files=files, headers=headers, timeout=60)


def app_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {APP_KEY}"}


def test_keys_are_required_except_for_health_and_metrics(locked: tuple[str, Path]) -> None:
    base, _ = locked
    refused = httpx.get(f"{base}/v1/index")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert search(base, photo_png()).status_code == 401
    assert httpx.get(f"{base}/v1/index", headers={"X-API-Key": "sb_not-a-key"}).status_code == 401
    for open_path in ("/livez", "/readyz", "/metrics"):
        assert httpx.get(f"{base}{open_path}").status_code == 200, open_path
    assert search(base, photo_png(), app_headers(), k=2).status_code == 200
    assert httpx.get(f"{base}/v1/index", headers={"X-API-Key": APP_KEY}).status_code == 200


def test_no_answer_names_a_path_on_the_server(locked: tuple[str, Path], sample_index: Path) -> None:
    base, _ = locked
    summary = httpx.get(f"{base}/v1/index", headers=app_headers())
    assert summary.status_code == 200
    ready = httpx.get(f"{base}/readyz")
    for text in (summary.text, ready.text):
        assert str(sample_index.parent) not in text and "/tmp" not in text


def test_each_key_has_its_own_bucket_and_over_it_is_429(locked: tuple[str, Path]) -> None:
    base, _ = locked
    headers = {"X-API-Key": BURST_KEY}
    statuses = [httpx.get(f"{base}/v1/products/NOPE", headers=headers).status_code for _ in range(BURST + 1)]
    assert statuses[:BURST] == [404] * BURST
    assert statuses[BURST] == 429
    refused = httpx.get(f"{base}/v1/products/NOPE", headers=headers)
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["retry-after"]) >= 1
    assert httpx.get(f"{base}/v1/products/NOPE", headers=app_headers()).status_code == 404  # other key


def test_cors_answers_the_configured_origin_only(locked: tuple[str, Path]) -> None:
    base, _ = locked
    preflight = {"Origin": SHOP, "Access-Control-Request-Method": "POST"}
    allowed = httpx.options(f"{base}/v1/search", headers=preflight)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == SHOP
    evil = httpx.options(f"{base}/v1/search", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers


def test_docs_and_schema_are_off(locked: tuple[str, Path]) -> None:
    base, _ = locked
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{base}{path}", headers=app_headers()).status_code == 404, path


def test_json_logs_carry_request_ids_but_no_query_strings_or_photos(locked: tuple[str, Path]) -> None:
    base, log_path = locked
    photo = photo_png()
    answer = search(base, photo, app_headers(), k=1, category="my-private-words")
    request_id = answer.headers["x-request-id"]
    deadline = time.monotonic() + 10
    while request_id not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log_path.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    mine = [r for r in records if r.get("request_id") == request_id]
    assert mine and mine[-1]["path"] == "/v1/search" and mine[-1]["status"] == answer.status_code
    assert "my-private-words" not in text
    assert photo[8:40].hex() not in text and APP_KEY not in text


@pytest.mark.parametrize(
    ("boundary", "body", "status", "code"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_multipart_is_a_4xx_with_its_error(
    locked: tuple[str, Path], boundary: str, body: bytes, status: int, code: str
) -> None:
    base, _ = locked
    headers = {**app_headers(), "content-type": f"multipart/form-data; boundary={boundary}"}
    answer = httpx.post(f"{base}/v1/search", content=body, headers=headers, timeout=60)
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert len(answer.json()["error"]["message"]) < 300


def test_echoes_are_clipped_and_a_disconnect_is_one_quiet_line(locked: tuple[str, Path]) -> None:
    base, log_path = locked
    huge = "c" * 10_000  # a request line stays under the HTTP parser's 16 KB limit
    refused = search(base, photo_png(), app_headers(), category=huge)
    assert refused.status_code == 422 and len(refused.text) < 1000
    # Half an upload, then the client goes away.
    host, port = base.removeprefix("http://").split(":")
    body = image_body("B")
    head = (
        f"POST /v1/search HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {APP_KEY}\r\n"
        f"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
    deadline = time.monotonic() + 10
    while '"status": 499' not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log_path.read_text()
    assert '"status": 499' in text
    assert "Traceback" not in text and huge[:200] not in text


def test_metrics_count_by_route_and_status_and_name_the_index(locked: tuple[str, Path]) -> None:
    base, _ = locked
    assert search(base, photo_png(), app_headers(), k=2).status_code == 200
    httpx.get(f"{base}/v1/index")  # 401
    text = httpx.get(f"{base}/metrics").text
    assert 'http_requests_total{handler="/v1/search",method="POST",status="2xx"}' in text
    assert 'http_requests_total{handler="/v1/index",method="GET",status="4xx"}' in text
    assert 'http_request_duration_seconds_bucket{handler="/v1/search"' in text
    for stage in ("decode", "embed", "search"):
        assert f'snapbuy_search_stage_seconds_count{{stage="{stage}"}}' in text
    assert "snapbuy_index_info{" in text and 'model="' in text and "snapbuy_index_products 24.0" in text
    assert "snapbuy_searches_running" in text and "snapbuy_searches_waiting" in text
    # `snapbuy serve` runs the model on one worker thread that batches searches: its counts are there.
    forwards = float(text.split("\nsnapbuy_model_forwards_total ")[1].split()[0])
    images = float(text.split("\nsnapbuy_model_images_total ")[1].split()[0])
    assert forwards >= 1 and images >= forwards and "snapbuy_model_queued 0.0" in text


def test_a_search_past_its_deadline_is_504_and_the_server_goes_on(sample_index: Path) -> None:
    # One microsecond is spent long before the model has run: every search meets its deadline.
    with serve_process(sample_index, {"SNAPBUY_SEARCH_DEADLINE": "0.000001"}) as (base, _):
        late = search(base, photo_png(), k=2)
        assert late.status_code == 504 and late.json()["error"]["code"] == "deadline_exceeded"
        assert late.headers["retry-after"] == "1"
        assert httpx.get(f"{base}/v1/search", params={"q": "red mug"}).status_code == 504
        assert httpx.get(f"{base}/livez").status_code == 200
        assert httpx.get(f"{base}/v1/products/NOPE").status_code == 404
        metrics = httpx.get(f"{base}/metrics").text
        assert 'http_requests_total{handler="/v1/search",method="POST",status="5xx"} 1.0' in metrics


def peak_rss_mb(pid: int) -> float:
    return memory_mb(pid, "VmHWM")


def jpeg(size: tuple[int, int]) -> bytes:
    return encode(Image.new("RGB", size, (200, 190, 180)), "JPEG", quality=80)


def test_a_40_mp_upload_raises_the_servers_peak_by_under_100_mb(plain: tuple[str, int]) -> None:
    base, pid = plain
    for _ in range(3):  # warm: the model's working memory and the thread pool are in place
        assert search(base, photo_png(), k=3).status_code == 200
    before = peak_rss_mb(pid)
    for _ in range(3):
        assert search(base, jpeg((7000, 5710)), k=3).status_code == 200  # 39.97 MP
    assert peak_rss_mb(pid) - before < 100


def test_rss_stays_flat_over_adversarial_uploads(plain: tuple[str, int]) -> None:
    base, pid = plain
    uploads = list(adversarial_uploads(photo_png()).values())
    statuses: list[int] = []
    for payload in uploads * 2:  # warm: every kind of upload once, then again
        statuses.append(search(base, payload, k=3).status_code)
    settled = peak_rss_mb(pid)
    for payload in uploads * 8:
        statuses.append(search(base, payload, k=3).status_code)
    assert all(status < 500 for status in statuses), statuses
    assert peak_rss_mb(pid) - settled < 20


def test_no_generated_request_gets_a_server_error_from_the_live_server(plain: tuple[str, int]) -> None:
    base, _ = plain
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    seen = fuzz_every_operation(
        schema, lambda case: case.call(base_url=base, timeout=60), EXAMPLES_PER_OPERATION
    )
    assert "POST /v1/search" in seen and "GET /v1/products/{sku}/similar" in seen
