from __future__ import annotations

import pytest

from snapbuy.errors import InvalidParameterError
from snapbuy.index import choose_index, parse_size
from snapbuy.index.choice import DEFAULT_RAM_BYTES_PER_VECTOR, FLAT_MAX_VECTORS


def test_auto_is_flat_for_small_catalogs_and_compressed_above() -> None:
    small = choose_index("auto", 10_000, 512)
    assert small.kind == "flat" and small.factory == "Flat" and "auto" in small.reason
    # The default 1.2 KB per vector holds PQ codes and float16 re-rank rows, not SQ8 codes and rows.
    large = choose_index("auto", 1_000_000, 512)
    assert large.kind == "ivf" and large.factory == "IVF4000,PQ64x8" and large.rows_in_memory
    assert large.effort is not None and large.effort.base == 31 and large.effort.rerank_factor == 32
    assert large.bytes_per_vector <= DEFAULT_RAM_BYTES_PER_VECTOR
    assert large.to_manifest()["params"]["rerank_rows"] == "memory"


def test_auto_follows_the_memory_budget() -> None:
    n = 1_000_000
    roomy = choose_index("auto", n, 512, memory_budget=2 * n * 1000)
    assert roomy.factory == "IVF4000,SQ8" and roomy.rows_in_memory
    lean = choose_index("auto", n, 512, memory_budget=n * 600)
    assert lean.factory == "IVF4000,SQ8" and not lean.rows_in_memory
    tight = choose_index("auto", n, 512, memory_budget=n * 200)
    assert tight.factory == "IVF4000,PQ64x8" and not tight.rows_in_memory
    with pytest.raises(InvalidParameterError, match="raise the budget"):
        choose_index("auto", n, 512, memory_budget=n * 50)
    # 2 KB of float32 per vector does not fit 1 KB per vector: compressed codes even when small.
    assert choose_index("auto", FLAT_MAX_VECTORS, 512, memory_budget=FLAT_MAX_VECTORS * 1000).kind == "ivf"
    assert choose_index("auto", FLAT_MAX_VECTORS, 512).kind == "flat"  # small: flat whatever the default


def test_named_types_and_factory_strings() -> None:
    assert choose_index("flat", 10**7, 512).kind == "flat"
    assert choose_index("HNSW", 1000, 64).factory == "HNSW32,SQ8"
    factory = choose_index("IVF256,SQ8", 100_000, 64)
    assert factory.kind == "ivf" and factory.factory == "IVF256,SQ8" and factory.effort is not None
    assert choose_index("Flat", 100, 64).kind == "flat"
    manifest = factory.to_manifest()
    assert manifest["type"] == "ivf" and manifest["params"]["effort"]["base"] == 8
    assert "requested" in manifest["chosen_because"]


@pytest.mark.parametrize("bad", ["", "  ", "IVF,nonsense", "hnswx"])
def test_unknown_types_are_refused_clearly(bad: str) -> None:
    with pytest.raises(InvalidParameterError, match="index type"):
        choose_index(bad, 1000, 64)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1200000", 1_200_000),
        ("800MB", 800_000_000),
        ("2GiB", 2 * 1024**3),
        ("1.5 gb", 1_500_000_000),
        ("64k", 64_000),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "1.2.3GB", "5 parsecs", "ib"])
def test_parse_size_refuses_nonsense(bad: str) -> None:
    with pytest.raises(InvalidParameterError, match="memory size"):
        parse_size(bad)
