"""Shared fixtures: a tiny open_clip model with random weights and the committed sample catalog.

Nothing here downloads anything: the model is built from tests/data/tiny-clip.json."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub, which reads this once: tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch

from snapbuy.bundle import open_current
from snapbuy.catalog import Product
from snapbuy.embed.openclip import OpenClipEmbedder, load_embedder
from snapbuy.indexing import IndexingOptions, build_index
from snapbuy.loading import build_service
from snapbuy.search import SearchService
from tests.fakes import build_index_with
from tests.measured import measured_lines

# The tests run torch on one thread (those of the thread handling set their own). On a busy machine two
# threads of the tests' small ops mostly wait for each other: 20 localiser training steps took 5.5 s on
# one thread and 34 s on two while other work kept the machine's two cores busy.
torch.set_num_threads(1)

DATA = Path(__file__).parent / "data"
TINY_CONFIG = DATA / "tiny-clip.json"
TINY_SPEC = f"{TINY_CONFIG}:random"
SAMPLE_CATALOG = DATA / "sample-catalog" / "catalog.csv"
# Stock and a sale among the sample's watches (stocked_sample_index).
OUT_OF_STOCK_SKU = "WAT-1-BLACK"
PREORDER_SKU = "WAT-3-TAN"
ON_SALE_SKU = "WAT-2-BLUE"  # 1540.00 NOK, on sale at 599.00: the cheapest watch to pay for
SALE_STARTS, SALE_ENDS = datetime(2020, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must never reach the network: force the hub client offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SNAPBUY_ALLOW_DOWNLOAD", "0")


@pytest.fixture(scope="session")
def tiny_embedder() -> OpenClipEmbedder:
    return load_embedder(TINY_SPEC, models_dir=Path("models"))


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder) -> Path:
    """The sample catalog indexed once per session with the tiny model. Read-only for tests."""
    root = tmp_path_factory.mktemp("index") / "sample"
    build_index(SAMPLE_CATALOG, root, tiny_embedder, IndexingOptions(batch_size=8))
    return root


def with_watch_stock_and_sale(product: Product) -> Product:
    if product.sku == OUT_OF_STOCK_SKU:
        return replace(product, availability="out_of_stock")
    if product.sku == PREORDER_SKU:
        return replace(product, availability="preorder")
    if product.sku == ON_SALE_SKU:
        return replace(product, sale_price=599.0, sale_starts=SALE_STARTS, sale_ends=SALE_ENDS)
    return product


@pytest.fixture(scope="session")
def stocked_sample_index(tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder) -> Path:
    """The sample catalog with one watch out of stock, one on preorder and one on sale. Read-only."""
    root = tmp_path_factory.mktemp("stocked") / "sample"
    build_index_with(
        SAMPLE_CATALOG, root, tiny_embedder, IndexingOptions(batch_size=8), with_watch_stock_and_sale
    )
    return root


@pytest.fixture(scope="session")
def sample_service(sample_index: Path, tiny_embedder: OpenClipEmbedder) -> SearchService:
    return build_service(open_current(sample_index), tiny_embedder)


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """A writable copy of the sample catalog folder; returns the path of its catalog.csv."""
    target = tmp_path / "catalog"
    shutil.copytree(SAMPLE_CATALOG.parent, target)
    return target / "catalog.csv"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """What the tests measured on this machine (tests/measured.py), after the results."""
    lines = measured_lines(config)
    if lines:
        terminalreporter.section("measured on this machine")
        for line in lines:
            terminalreporter.write_line(line)
