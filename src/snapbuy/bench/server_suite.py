"""The `server` suite: how a real `snapbuy serve` holds under abuse, in one run: its memory over
adversarial photo uploads, `/livez` latency while big uploads stream in against an idle server, and a
live index swap under 32 clients (failed requests, time from publishing to serving)."""

from __future__ import annotations

import io
import os
import signal
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from snapbuy.bench.http_client import post_photo
from snapbuy.bench.report import machine, p50_p99
from snapbuy.bench.serve_process import running_server
from snapbuy.bundle import read_current
from snapbuy.embed.base import Embedder
from snapbuy.indexing import IndexingOptions, build_index
from snapbuy.results import write_results

RSS_SAMPLES = 10


@dataclass
class MemoryFigures:
    uploads: int
    statuses: dict[str, int]  # status code -> count
    server_errors: int
    rss_mb_after_warmup: float
    rss_mb_peak_sampled: float
    rss_mb_at_end: float


@dataclass
class LivezFigures:
    idle_ms: dict[str, float]
    under_upload_load_ms: dict[str, float]
    uploads_during: int


@dataclass
class SwapFigures:
    clients: int
    requests: int
    failed: int
    seconds_to_serve_new_version: float
    old_version: str
    new_version: str


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's memory figure from /proc/PID/status in MB: VmRSS (resident now) or VmHWM (peak)."""
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(f"{field}:"))
    return int(line.split()[1]) / 1024


def _png(size: tuple[int, int]) -> bytes:
    image = Image.new("RGB", size, (200, 190, 180))
    ImageDraw.Draw(image).ellipse(
        (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), fill=(20, 40, 220)
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring `width` x `height` pixels of 1-bit grey, with a token of data:
    a decompression bomb is refused from such a header before anything is decoded."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def adversarial_uploads(photo: bytes) -> dict[str, bytes]:
    """Photos and near-photos a hostile or broken client sends, by name."""
    big = Image.new("RGB", (7000, 5670), (200, 190, 180))
    jpeg = io.BytesIO()
    big.save(jpeg, "JPEG", quality=80)
    return {
        "shopper photo": photo,
        "40 MP JPEG": jpeg.getvalue(),
        "15.9 MP PNG": _png((4600, 3450)),
        "39.7 MP PNG": _png((7000, 5670)),
        "PNG declaring 20000x20000": _png_declaring(20_000, 20_000),
        "truncated JPEG": photo[: len(photo) // 2],
        "not an image": b"%PDF-1.7 " + bytes(5000),
    }


def measure_memory(base: str, pid: int, uploads: dict[str, bytes], total: int, clients: int) -> MemoryFigures:
    payloads = list(uploads.values())
    statuses: Counter[str] = Counter()
    samples: list[float] = []
    step = max(1, total // RSS_SAMPLES)
    for start in range(0, total, step):
        with ThreadPoolExecutor(max_workers=clients) as pool:
            batch = list(
                pool.map(
                    lambda i: post_photo(f"{base}/v1/search?k=3", payloads[i % len(payloads)]),
                    range(start, min(total, start + step)),
                )
            )
        statuses.update(str(s) for s in batch)
        samples.append(memory_mb(pid))
    return MemoryFigures(
        uploads=total,
        statuses=dict(sorted(statuses.items())),
        server_errors=sum(
            count for status, count in statuses.items() if status.startswith("5") and status != "503"
        ),
        rss_mb_after_warmup=round(samples[0], 1),
        rss_mb_peak_sampled=round(max(samples), 1),
        rss_mb_at_end=round(samples[-1], 1),
    )


def _timed_get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:  # loopback URL we built
        response.read()
    return (time.perf_counter() - started) * 1000


def measure_livez(base: str, seconds: float, uploaders: int, body_mb: int) -> LivezFigures:
    idle = [_timed_get(f"{base}/livez") for _ in range(100)]
    stop = threading.Event()
    sent = [0]
    body = bytes(body_mb * 1024 * 1024 - 200)  # zeros: parsed in full, then refused as not an image

    def upload() -> None:
        while not stop.is_set():
            post_photo(f"{base}/v1/search", body)
            sent[0] += 1

    threads = [threading.Thread(target=upload, daemon=True) for _ in range(uploaders)]
    for thread in threads:
        thread.start()
    busy: list[float] = []
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        busy.append(_timed_get(f"{base}/livez"))
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join(60)
    return LivezFigures(p50_p99(idle, 2), p50_p99(busy, 2), sent[0])


def measure_swap(
    base: str, server_pid: int, republish: Callable[[], str], index: Path, clients: int, seconds: float
) -> SwapFigures:
    old = read_current(index) or ""
    stop = threading.Event()
    outcomes: Counter[bool] = Counter()
    lock = threading.Lock()

    def search() -> None:
        query = urllib.parse.urlencode({"q": "blue watch", "k": 3})
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"{base}/v1/search?{query}", timeout=60) as response:
                    ok = response.status == 200
                    response.read()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                ok = False
            with lock:
                outcomes[ok] += 1

    threads = [threading.Thread(target=search, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds / 3)
    new = republish()
    published = time.perf_counter()
    os.kill(server_pid, signal.SIGHUP)  # the server checks CURRENT at once instead of at its next poll
    served = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/v1/index", timeout=30) as response:
            if new in response.read().decode():
                served = time.perf_counter() - published
                break
        time.sleep(0.02)
    time.sleep(seconds / 3)
    stop.set()
    for thread in threads:
        thread.join(120)
    return SwapFigures(
        clients=clients,
        requests=outcomes[True] + outcomes[False],
        failed=outcomes[False],
        seconds_to_serve_new_version=round(served if served is not None else float("nan"), 3),
        old_version=old,
        new_version=new,
    )


def server_benchmark(
    embedder: Embedder, feed: Path, photo: bytes, workdir: Path, out_dir: Path, quick: bool
) -> tuple[tuple[Path, Path], dict[str, Any]]:
    index = workdir / "index"
    options = IndexingOptions()
    build_index(feed, index, embedder, options)

    def republish() -> str:
        return build_index(feed, index, embedder, options).version

    uploads = adversarial_uploads(photo)
    total = 200 if quick else 1000
    with running_server(index, {"SNAPBUY_RELOAD_INTERVAL": "0"}) as (base, server):
        post_photo(f"{base}/v1/search", photo)  # warm-up
        memory = measure_memory(base, server.pid, uploads, total, clients=4)
        livez = measure_livez(base, 5 if quick else 10, uploaders=8, body_mb=9)
        swap = measure_swap(base, server.pid, republish, index, clients=32, seconds=6 if quick else 15)
    figures = {"memory": asdict(memory), "livez": asdict(livez), "swap": asdict(swap)}
    identity = embedder.identity
    payload: dict[str, Any] = {
        "suite": "server",
        "machine": machine(),
        "settings": {"model": identity.spec, "random_weights": identity.is_random, "uploads": list(uploads)},
        "figures": figures,
    }
    lines = [
        f"# snapbuy bench: server ({identity.spec}, a real `snapbuy serve` on loopback)",
        "",
        f"## {memory.uploads} adversarial uploads from 4 clients ({', '.join(uploads)}, in turn)",
        "",
        f"Answers: {memory.statuses}; server errors (5xx but 503): {memory.server_errors}.",
        f"Server RSS: {memory.rss_mb_after_warmup} MB after the first {total // RSS_SAMPLES}, "
        f"peak sampled {memory.rss_mb_peak_sampled} MB, {memory.rss_mb_at_end} MB at the end.",
        "",
        "## /livez while 8 clients stream 9 MB uploads",
        "",
        f"Idle p50 {livez.idle_ms['p50']} ms, p99 {livez.idle_ms['p99']} ms; under load p50 "
        f"{livez.under_upload_load_ms['p50']} ms, p99 {livez.under_upload_load_ms['p99']} ms "
        f"({livez.uploads_during} uploads).",
        "",
        f"## Index swap under {swap.clients} clients",
        "",
        f"{swap.requests} text searches, {swap.failed} failed; the new version was served "
        f"{swap.seconds_to_serve_new_version} s after it was published (SIGHUP).",
    ]
    return write_results(out_dir, "server", payload, "\n".join(lines) + "\n"), figures
