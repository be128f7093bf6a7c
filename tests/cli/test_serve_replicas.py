"""Several `snapbuy serve` replicas on one shared index folder: each reports the version it serves, a
publish reaches every replica (by polling CURRENT), and every answer comes whole from one version:
the two versions here differ in every price, so an answer mixing them would show it."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from snapbuy.bundle import read_current
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.indexing import IndexingOptions, build_index
from tests.catalog_rows import read_rows, write_rows
from tests.conftest import SAMPLE_CATALOG
from tests.serve_process import serve_process, text_search_load

REPLICAS = 2


def doubled_prices(folder: Path) -> Path:
    """The sample catalog with every price doubled, beside a copy of its images."""
    rows = read_rows(SAMPLE_CATALOG)
    for row in rows:
        amount, currency = row["price"].split()
        row["price"] = f"{2 * float(amount):.2f} {currency}"
    shutil.copytree(SAMPLE_CATALOG.parent / "images", folder / "images")  # makes `folder` too
    path = folder / "catalog.csv"
    write_rows(path, rows)
    return path


def prices_of(catalog: Path) -> dict[str, float]:
    return {row["id"]: float(row["price"].split()[0]) for row in read_rows(catalog)}


def listed(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Every product an answer lists: its matches and every tier's."""
    items = list(answer["matches"])
    for tier in answer.get("tiers", []):
        items += tier["items"]
    return items


@pytest.mark.slow
def test_replicas_on_one_index_all_take_a_publish_and_never_mix_versions(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    index = tmp_path / "index"
    options = IndexingOptions(batch_size=8, keep_versions=1)
    build_index(SAMPLE_CATALOG, index, tiny_embedder, options)
    first = read_current(index)
    second_catalog = doubled_prices(tmp_path / "second")
    price_in = {first: prices_of(SAMPLE_CATALOG)}
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                serve_process(
                    index,
                    {"SNAPBUY_RELOAD_INTERVAL": "0.5"},
                    stack.enter_context((tmp_path / f"replica{i}.log").open("wb")),
                )
            )[0]
            for i in range(REPLICAS)
        ]
        for base in servers:
            assert httpx.get(f"{base}/v1/index", timeout=10).json()["version"] == first
        stop = threading.Event()
        answers: list[list[dict[str, Any]]] = [[] for _ in servers]
        failures: list[str] = []
        clients = [
            threading.Thread(target=text_search_load, args=(base, stop, answers[i], failures, 3))
            for i, base in enumerate(servers)
        ]
        for client in clients:
            client.start()
        try:
            time.sleep(1.0)
            build_index(second_catalog, index, tiny_embedder, options)
            second = read_current(index)
            assert second is not None and second != first
            price_in[second] = prices_of(second_catalog)
            published = time.monotonic()
            for base in servers:  # every replica takes the publish by itself, within 30 s
                while httpx.get(f"{base}/v1/index", timeout=10).json()["version"] != second:
                    assert time.monotonic() - published < 30, f"{base} still serves {first} after 30 s"
                    time.sleep(0.1)
            time.sleep(1.0)  # searches keep going on the new version
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=60)
        assert failures == []
        for replica in answers:
            versions = Counter(answer["index_version"] for answer in replica)
            assert versions[first] > 0 and versions[second] > 0, versions
            for answer in replica:
                version = answer["index_version"]
                for item in listed(answer):
                    assert item["price"] == pytest.approx(price_in[version][item["sku"]]), (version, item)
