"""CLI round trip: index -> search -> embed -> serve, as a retailer and the phone app would use it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from snapbuy.cli import app
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.imaging import load_image_file
from tests.conftest import (
    ON_SALE_SKU,
    OUT_OF_STOCK_SKU,
    PREORDER_SKU,
    SALE_ENDS,
    SALE_STARTS,
    SAMPLE_CATALOG,
    TINY_CONFIG,
    TINY_SPEC,
)
from tests.serve_process import serve_process

IMAGES = SAMPLE_CATALOG.parent / "images"
runner = CliRunner()


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "sample"
    result = runner.invoke(
        app, ["index", str(SAMPLE_CATALOG), "--index", str(root), "--model", TINY_SPEC, "--batch-size", "5"]
    )
    assert result.exit_code == 0, result.output
    assert "indexed 24 products (24 images)" in result.output
    return root


def test_index_with_catalog_views_records_them(tmp_path: Path) -> None:
    from snapbuy.bundle import open_current

    root = tmp_path / "viewed"
    command = ["index", str(SAMPLE_CATALOG), "--index", str(root), "--model", TINY_SPEC, "--catalog-views"]
    result = runner.invoke(app, [*command, "2"])
    assert result.exit_code == 0, result.output
    assert "2 catalog views per image" in result.output
    assert open_current(root).manifest.vectors["catalog_views"] == 2
    refused = runner.invoke(app, [*command, "-1"])
    assert refused.exit_code == 2 and "--catalog-views" in refused.output


def test_index_writes_thumbnails_unless_told_not_to(tmp_path: Path) -> None:
    from snapbuy.bundle import THUMBNAILS_FOLDER, open_current

    root = tmp_path / "thumbs"
    command = ["index", str(SAMPLE_CATALOG), "--index", str(root), "--model", TINY_SPEC, "--quiet"]
    without = runner.invoke(app, [*command, "--thumbnail-side", "0"])
    assert without.exit_code == 0, without.output
    assert "thumbnails: 0" in without.output
    bundle = open_current(root)
    assert not (bundle.path / THUMBNAILS_FOLDER).exists()
    assert bundle.manifest.counts["thumbnails"] == 0

    # The default (IndexingOptions' 320 px): a thumbnail of every sample product's local image.
    default = runner.invoke(app, command)
    assert default.exit_code == 0, default.output
    assert "thumbnails: 24" in default.output
    bundle = open_current(root)
    written = sorted((bundle.path / THUMBNAILS_FOLDER).glob("*.jpg"))
    assert len(written) == bundle.manifest.counts["thumbnails"] == 24
    with Image.open(written[0]) as thumbnail:
        assert max(thumbnail.size) == 160  # the sample images are 160 px: never enlarged

    small = runner.invoke(app, [*command, "--thumbnail-side", "48"])
    assert small.exit_code == 0, small.output
    with Image.open(open_current(root).thumbnail_path(0)) as thumbnail:
        assert max(thumbnail.size) == 48  # the sample images are 160 px

    refused = runner.invoke(app, [*command, "--thumbnail-side", "-1"])
    assert refused.exit_code == 2 and "--thumbnail-side" in refused.output


def test_search_prints_tiered_json(cli_index: Path) -> None:
    photo = IMAGES / "wat-2-blue.jpg"
    result = runner.invoke(app, ["search", str(photo), "--index", str(cli_index), "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout[result.stdout.index("{") :])
    assert body["matches"][0]["sku"] == "WAT-2-BLUE"
    assert [t["name"] for t in body["tiers"]] == ["budget", "mid", "premium"]
    # Both colours of a design share a tier: collapsed, each tier is one design listing the other.
    assert all(len(t["items"]) == 1 and len(t["items"][0]["variants"]) == 1 for t in body["tiers"])
    flat = runner.invoke(
        app, ["search", str(photo), "--index", str(cli_index), "-k", "2", "--json", "--no-collapse"]
    )
    flat_body = json.loads(flat.stdout[flat.stdout.index("{") :])
    assert all(len(t["items"]) == 2 and not t["items"][0]["variants"] for t in flat_body["tiers"])


def test_search_with_category_prints_a_table(cli_index: Path) -> None:
    photo = IMAGES / "mug-1-red.jpg"
    result = runner.invoke(app, ["search", str(photo), "--index", str(cli_index), "--category", "mug"])
    assert result.exit_code == 0, result.output
    assert "category: mug (request)" in result.output
    assert "budget [" in result.output and "premium [" in result.output


def test_search_says_where_it_looked_and_takes_a_box(cli_index: Path) -> None:
    photo = IMAGES / "mug-1-red.jpg"
    command = ["search", str(photo), "--index", str(cli_index)]
    found = runner.invoke(app, command)
    assert found.exit_code == 0, found.output
    assert "product at x " in found.output and ("(crop grid)" in found.output or "(photo)" in found.output)
    told = runner.invoke(app, [*command, "--box", "0.1,0.2,0.6,0.9", "--json"])
    assert told.exit_code == 0, told.output
    query = json.loads(told.stdout[told.stdout.index("{") :])["query"]
    assert query["box_source"] == "client" and query["box"]["x0"] == 0.1 and query["box"]["y1"] == 0.9
    refused = runner.invoke(app, [*command, "--box", "0.6,0.2,0.1,0.9"])
    assert refused.exit_code != 0 and "x0 < x1" in refused.output


def test_search_filters_by_brand_and_pages(cli_index: Path) -> None:
    command = ["search", str(IMAGES / "mug-1-red.jpg"), "--index", str(cli_index), "--json", "-k", "3"]
    first = runner.invoke(app, [*command, "--brand", "basico"])
    second = runner.invoke(app, [*command, "--brand", "basico", "--offset", "3"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    pages = [json.loads(r.stdout[r.stdout.index("{") :])["matches"] for r in (first, second)]
    skus = [m["sku"] for page in pages for m in page]
    assert len(skus) == 4 == len(set(skus)) and {m["brand"] for page in pages for m in page} == {"Basico"}
    refused = runner.invoke(app, [*command, "--availability", "sold"])
    assert refused.exit_code != 0 and "unknown availability 'sold'" in refused.output


def test_search_json_items_carry_stock_and_sale(stocked_sample_index: Path) -> None:
    command = ["search", str(IMAGES / "wat-1-black.jpg"), "--index", str(stocked_sample_index)]
    command += ["--category", "watch", "-k", "6", "--json"]
    hidden = runner.invoke(app, command)
    assert hidden.exit_code == 0, hidden.output
    body = json.loads(hidden.stdout[hidden.stdout.index("{") :])
    assert OUT_OF_STOCK_SKU not in [m["sku"] for m in body["matches"]]
    shown = runner.invoke(app, [*command, "--include-out-of-stock"])
    assert shown.exit_code == 0, shown.output
    matches = {m["sku"]: m for m in json.loads(shown.stdout[shown.stdout.index("{") :])["matches"]}
    assert matches[OUT_OF_STOCK_SKU]["availability"] == "out_of_stock"
    sale = matches[ON_SALE_SKU]
    assert (sale["price"], sale["sale_price"], sale["price_paid"]) == (1540.0, 599.0, 599.0)
    assert sale["sale_price_effective_date"] == f"{SALE_STARTS.isoformat()}/{SALE_ENDS.isoformat()}"
    assert (sale["link"], sale["image_link"]) == (
        "https://shop.example/p/wat-2-blue",
        "images/wat-2-blue.jpg",
    )


def test_search_table_shows_sales_and_stock(stocked_sample_index: Path) -> None:
    command = ["search", str(IMAGES / "wat-2-blue.jpg"), "--index", str(stocked_sample_index)]
    result = runner.invoke(app, [*command, "--category", "watch", "-k", "6", "--include-out-of-stock"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    sale = next(line for line in lines if ON_SALE_SKU in line)
    assert "599.00 (was 1540.00) NOK" in sale and "[" not in sale
    assert next(line for line in lines if OUT_OF_STOCK_SKU in line).endswith("[out of stock]")
    assert next(line for line in lines if PREORDER_SKU in line).endswith("[preorder]")
    plain = next(line for line in lines if "WAT-1-RED" in line)
    assert "630.00 NOK" in plain and "was" not in plain


def test_embed_writes_normalised_rows_in_argument_order(
    cli_index: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    photos = [IMAGES / "bac-1-black.jpg", IMAGES / "mug-3-tan.jpg", IMAGES / "bac-1-black.jpg"]
    out = tmp_path / "vectors.npy"
    result = runner.invoke(app, ["embed", *map(str, photos), "--index", str(cli_index), "--out", str(out)])
    assert result.exit_code == 0, result.output
    vectors = np.load(out)
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    expected = tiny_embedder.embed_images(
        [load_image_file(p, max_bytes=10**7, max_pixels=10**7) for p in photos]
    )
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_an_index_is_refused_by_another_model(cli_index: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-clip.json"
    config = json.loads(TINY_CONFIG.read_text())
    config["embed_dim"] = 16
    other.write_text(json.dumps(config))
    photo = IMAGES / "wat-1-red.jpg"
    result = runner.invoke(
        app, ["search", str(photo), "--index", str(cli_index), "--model", f"{other}:random"]
    )
    assert result.exit_code == 7
    assert "was built with model" in result.output


def test_bad_catalog_row_names_file_line_and_field(tmp_path: Path) -> None:
    catalog = tmp_path / "feed.tsv"
    catalog.write_text("id\ttitle\tprice\timage_link\nA\tA thing\tabc NOK\tx.jpg\n")
    result = runner.invoke(
        app, ["index", str(catalog), "--index", str(tmp_path / "idx"), "--model", TINY_SPEC]
    )
    assert result.exit_code == 3
    assert "feed.tsv:2: field 'price'" in result.output
    assert not (tmp_path / "idx" / "CURRENT").exists()


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["search", str(IMAGES / "wat-1-red.jpg"), "--index", str(tmp_path / "none")])
    assert result.exit_code == 6
    assert "snapbuy index" in result.output


@pytest.fixture
def server(cli_index: Path) -> Iterator[str]:
    with serve_process(cli_index) as (base, _):
        yield base


@pytest.mark.slow
def test_serve_answers_a_photo_upload_with_tiers(server: str) -> None:
    photo = (IMAGES / "sne-3-tan.jpg").read_bytes()
    response = httpx.post(
        f"{server}/v1/search?k=3", files={"image": ("photo.jpg", photo, "image/jpeg")}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["matches"][0]["sku"] == "SNE-3-TAN"
    assert body["query"]["category_source"] == "predicted"
    # Each sneaker tier holds one design in two colours: one item, the other colour its variant.
    assert [len(t["items"]) for t in body["tiers"]] == [1, 1, 1]
    assert all(len(t["items"][0]["variants"]) == 1 for t in body["tiers"])
    garbage = httpx.post(
        f"{server}/v1/search", files={"image": ("x.jpg", b"hello", "image/jpeg")}, timeout=30
    )
    assert garbage.status_code == 415
    assert garbage.json()["error"]["code"] == "unsupported_media_type"
    assert httpx.get(f"{server}/livez", timeout=5).status_code == 200


@pytest.mark.slow
def test_demo_data_train_index_eval_round_trip(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    made = runner.invoke(app, ["demo-data", str(shop), "--products", "24", "--queries", "6", "--seed", "4"])
    assert made.exit_code == 0, made.output
    assert "24 SKUs" in made.output and (shop / "queries.csv").is_file()
    model = tmp_path / "models" / "shop.pt"
    trained = runner.invoke(
        app,
        [
            "train",
            str(shop / "catalog.csv"),
            "--out",
            str(model),
            # Bounded by steps: a time budget that never ends first on a busy machine.
            "--minutes",
            "60",
            "--max-steps",
            "6",
            "--batch-size",
            "8",
            "--localiser-minutes",
            "60",
            "--localiser-max-steps",
            "4",
            "--learning-rate",
            "0.004",
        ],
    )
    assert trained.exit_code == 0, trained.output
    meta = torch.load(model, map_location="cpu", weights_only=True)["snapbuy_training"]
    assert meta["options"]["learning_rate"] == 0.004
    assert meta["steps"] == 6 and meta["localiser"]["steps"] == 4
    spec = f"{model.with_suffix('.json')}:{model}"
    assert f"--model {spec}" in trained.output
    index = tmp_path / "idx"
    indexed = runner.invoke(app, ["index", str(shop / "catalog.csv"), "--index", str(index), "--model", spec])
    assert indexed.exit_code == 0, indexed.output
    results = tmp_path / "results"
    evaluated = runner.invoke(
        app, ["eval", str(shop / "queries.csv"), "--index", str(index), "--out", str(results)]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "| group_recall@1 |" in evaluated.output
    report = json.loads(next(results.glob("eval-*.json")).read_text())
    assert report["queries"] == 6 and report["settings"]["model"] == spec


def test_train_on_a_gpu_that_is_not_there_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from snapbuy import device

    monkeypatch.setattr(device, "cuda_available", lambda: False)
    out = tmp_path / "models" / "shop.pt"
    result = runner.invoke(app, ["train", str(SAMPLE_CATALOG), "--out", str(out), "--device", "cuda"])
    assert result.exit_code == 2
    assert "no CUDA GPU" in result.output and "--device cpu" in result.output
    assert not out.parent.exists()  # refused before anything was written


def test_train_refuses_a_learning_rate_that_is_not_positive(tmp_path: Path) -> None:
    out = tmp_path / "models" / "shop.pt"
    result = runner.invoke(app, ["train", str(SAMPLE_CATALOG), "--out", str(out), "--learning-rate", "0"])
    assert result.exit_code == 2 and "--learning-rate" in result.output
    assert not out.parent.exists()


def test_bench_search_writes_results(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "bench",
            "search",
            "--size",
            "3000",
            "--queries",
            "10",
            "--repeats",
            "1",
            "--index-type",
            "ivf",
            "--index-type",
            "IVF32,SQ8",  # a factory string keeps its comma
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| flat | `Flat` |" in result.output and "| ivf | `IVF" in result.output
    assert "| IVF32,SQ8 | `IVF32,SQ8` |" in result.output
    assert len(list(tmp_path.glob("search-*.json"))) == 1 and len(list(tmp_path.glob("search-*.md"))) == 1
    assert len(list(tmp_path.glob("search-*.png"))) == 2


def test_bench_refuses_an_unknown_spectrum(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "search", "--spectrum", "pink", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "decaying or flat" in result.output


def test_bench_refuses_an_unknown_suite(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "speed", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "unknown bench suite 'speed'" in result.output and "quality" in result.output
    assert not list(tmp_path.iterdir())
