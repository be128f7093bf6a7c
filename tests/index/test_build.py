from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snapbuy.errors import BundleError
from snapbuy.index import build_vector_index, choose_index, load_vector_index
from snapbuy.index.exact_rows import EXACT_ROWS_FILE


def test_a_built_index_loads_from_its_manifest_entry(tmp_path: Path) -> None:
    vectors = np.random.default_rng(1).standard_normal((3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    choice = choose_index("ivf", len(vectors), 32)
    build_vector_index(vectors, choice).save(tmp_path)
    loaded = load_vector_index(tmp_path, choice.to_manifest())
    in_memory = load_vector_index(
        tmp_path,
        {**choice.to_manifest(), "params": {**choice.to_manifest()["params"], "rerank_rows": "memory"}},
    )
    try:
        assert loaded.ntotal == 3000 and loaded.kind == "ivf"
        assert loaded.search(vectors[7], 1)[1][0] == 7
        np.testing.assert_array_equal(in_memory.search(vectors[9], 5)[1], loaded.search(vectors[9], 5)[1])
    finally:
        loaded.close()
        in_memory.close()
    (tmp_path / EXACT_ROWS_FILE).unlink()
    with pytest.raises(BundleError, match="cannot load"):
        load_vector_index(tmp_path, choice.to_manifest())


def test_unknown_index_type_in_a_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot load"):
        load_vector_index(tmp_path, {"type": "quantum", "params": {}})
