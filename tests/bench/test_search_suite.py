from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from snapbuy.bench.search_suite import full_answer, search_benchmark
from snapbuy.bench.vectors import synthetic_catalog


def test_flat_is_exact_and_approximate_indexes_are_compared_to_it(tmp_path: Path) -> None:
    (json_path, md_path), results = search_benchmark(
        6000, 40, tmp_path, candidates={"ivf": ("IVF64,SQ8", 4), "hnsw": ("HNSW16", 32)}
    )
    flat, ivf, hnsw = results
    assert flat.recall == {"matches": 1.0, "tiers_mean": 1.0, "tiers_worst_list": 1.0}
    assert flat.speedup_vs_flat == 1.0 and flat.bytes_per_vector >= 512 * 4
    assert 0 < ivf.recall["matches"] <= 1 and 0 < hnsw.recall["matches"] <= 1
    assert ivf.bytes_per_vector < flat.bytes_per_vector / 3  # SQ8 codes: a byte per dimension
    payload = json.loads(json_path.read_text())
    assert payload["suite"] == "search" and payload["settings"]["size"] == 6000
    assert [r["name"] for r in payload["indexes"]] == ["flat", "ivf", "hnsw"]
    assert "machine" in payload and payload["machine"]["versions"]["faiss-cpu"]
    assert "| flat | `Flat` |" in md_path.read_text()


def test_tier_lists_come_only_from_their_tier_range() -> None:
    import faiss

    catalog = synthetic_catalog(3000, dim=32, seed=4)
    index = faiss.IndexFlatIP(32)
    index.add(catalog.vectors)
    ranges = [catalog.ranges()[(5, t)] for t in range(3)]
    matches, tiers = full_answer(index, catalog.vectors[ranges[0][0]], ranges, effort=0)
    assert matches[0] == ranges[0][0]  # a catalog vector finds itself first
    for (start, end), ids in zip(ranges, tiers, strict=True):
        assert ((ids >= start) & (ids < end)).all()
        expected = np.argsort(-(catalog.vectors[start:end] @ catalog.vectors[ranges[0][0]]))[:10] + start
        assert set(ids.tolist()) == set(expected.tolist())
