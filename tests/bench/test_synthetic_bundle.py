from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snapbuy.bench.synthetic_bundle import VectorsOnlyEmbedder, bench_model, write_synthetic_bundle
from snapbuy.bench.vectors import synthetic_catalog
from snapbuy.index import choose_index
from snapbuy.store import ProductStore


def test_bundle_tiers_and_order_are_the_generators(tmp_path: Path) -> None:
    catalog = synthetic_catalog(1200, dim=16, seed=1)
    built = write_synthetic_bundle(catalog, tmp_path, choose_index("ivf", 1200, 16), seed=1)
    assert built.bundle.manifest.index["type"] == "ivf" and built.disk_bytes > 1200 * 16
    store = ProductStore(built.bundle.products_path)
    try:
        columns = store.load_filter_columns()
        names = np.array(columns.tiers)[columns.tier_code]
        expected = np.array(["budget", "mid", "premium"])[catalog.tier]
        np.testing.assert_array_equal(names, expected)
        np.testing.assert_array_equal(columns.category_code, catalog.category)
    finally:
        store.close()


def test_the_stand_in_model_refuses_to_embed() -> None:
    model = VectorsOnlyEmbedder(bench_model(8, 0))
    assert model.dim == 8 and model.identity.weights == "synthetic:seed=0"
    with pytest.raises(NotImplementedError):
        model.embed_texts(["a watch"])
