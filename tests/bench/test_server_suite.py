"""The server suite (bench/server_suite.py) on the sample shop with the tiny model: the three
measurements run against a real server and report what they saw."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import pytest
from PIL import Image

from snapbuy.bench.server_suite import _png_declaring, adversarial_uploads, server_benchmark
from snapbuy.embed.openclip import OpenClipEmbedder
from tests.conftest import SAMPLE_CATALOG


def test_the_declared_bomb_is_a_png_header_of_that_size() -> None:
    with Image.open(io.BytesIO(_png_declaring(3_000, 2_000))) as image:  # PIL's bomb guard spares this size
        assert image.size == (3_000, 2_000)
    header = _png_declaring(20_000, 10_000)[16:24]
    assert (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")) == (20_000, 10_000)


@pytest.mark.slow
def test_the_suite_measures_memory_livez_and_a_swap(tmp_path: Path, tiny_embedder: OpenClipEmbedder) -> None:
    shop = tmp_path / "shop"
    shutil.copytree(SAMPLE_CATALOG.parent, shop)
    photo = (shop / "images" / "wat-2-blue.jpg").read_bytes()
    (json_path, _), figures = server_benchmark(
        tiny_embedder, shop / "catalog.csv", photo, tmp_path / "work", tmp_path / "out", quick=True
    )
    memory, swap = figures["memory"], figures["swap"]
    assert memory["uploads"] == 200 and memory["server_errors"] == 0
    # Each kind of upload got its expected class of answer: accepted photos, refused bombs and junk.
    assert set(memory["statuses"]) >= {"200", "413", "415", "422"}
    assert swap["failed"] == 0 and swap["new_version"] != swap["old_version"]
    assert not math.isnan(swap["seconds_to_serve_new_version"])  # the new version was served
    assert json.loads(json_path.read_text())["suite"] == "server"
    assert len(adversarial_uploads(photo)) == 7
