from __future__ import annotations

import json
from pathlib import Path

import pytest

from snapbuy.bench.suites import BenchRequest, bench_suite, bench_suites, jpeg_files
from snapbuy.config import Settings
from snapbuy.errors import InvalidParameterError
from tests.conftest import TINY_SPEC


def test_every_suite_is_registered_once_with_a_summary() -> None:
    suites = bench_suites()
    assert list(suites) == ["search", "embed", "api", "query", "ingest", "server", "quality", "gpu"]
    assert all(suite.name == name and suite.summary for name, suite in suites.items())


def test_an_unknown_suite_names_the_known_ones() -> None:
    with pytest.raises(InvalidParameterError, match="unknown bench suite 'nope'; available: search, embed"):
        bench_suite("nope")


def test_size_defaults_follow_quick(tmp_path: Path) -> None:
    assert BenchRequest(Settings(), tmp_path).skus == 1_000_000
    assert BenchRequest(Settings(), tmp_path, quick=True).skus == 100_000
    assert BenchRequest(Settings(), tmp_path, quick=True, size=600).skus == 600


def test_a_bad_spectrum_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="--spectrum"):
        bench_suite("search").run(BenchRequest(Settings(), tmp_path, size=600, spectrum="pink"))
    assert not any(tmp_path.iterdir())


def test_the_search_suite_runs_from_the_registry(tmp_path: Path) -> None:
    request = BenchRequest(Settings(), tmp_path, size=600, queries=5, repeats=1, index_types=("ivf",))
    json_path, md_path, *plots = bench_suite("search").run(request)
    assert json_path.suffix == ".json" and md_path.suffix == ".md" and len(plots) == 2
    assert all(path.parent == tmp_path and path.is_file() for path in (json_path, md_path, *plots))


def test_the_embed_suite_embeds_a_folder_of_the_users_photos(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    samples = sorted((Path(__file__).parents[1] / "data" / "sample-catalog" / "images").glob("*.jpg"))[:3]
    for sample in samples:
        (photos / sample.name.upper().replace(".JPG", ".JPEG")).write_bytes(sample.read_bytes())
    (photos / "notes.txt").write_text("not a photo")
    assert [p.name for p in jpeg_files(photos)] == sorted(
        s.name.upper().replace(".JPG", ".JPEG") for s in samples
    )
    out = tmp_path / "out"
    json_path, _ = bench_suite("embed").run(BenchRequest(Settings(), out, model=TINY_SPEC, photos=photos))
    assert json.loads(json_path.read_text())["settings"]["photos"] == 3


def test_a_folder_without_jpegs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"holds no \.jpg or \.jpeg files"):
        jpeg_files(tmp_path)
    with pytest.raises(InvalidParameterError, match="is not a folder"):
        jpeg_files(tmp_path / "missing")
