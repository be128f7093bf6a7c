"""Which index type a catalog gets: `auto` picks from the vector count and a memory budget; `flat`,
`ivf`, `ivfpq` and `hnsw` name a type; anything else is taken as a faiss factory string."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from snapbuy.errors import InvalidParameterError
from snapbuy.index.approximate import SearchEffort

NAMED_TYPES = ("auto", "flat", "ivf", "ivfpq", "hnsw")
# Up to this many vectors exact search answers a full query in a few ms on 2 cores (bench search).
FLAT_MAX_VECTORS = 50_000
# RAM per vector that `auto` aims for when no budget is given: index, re-rank rows and metadata.
DEFAULT_RAM_BYTES_PER_VECTOR = 1200
# Per-product filter columns and bookkeeping held in RAM next to the index, in bytes, with headroom over
# the measured figure (docs/experiments/2026-11-23-search-at-scale.md#metadata-bytes).
METADATA_BYTES_PER_VECTOR = 40
HNSW_LINKS = 32
# PQ codes rank candidates more coarsely than SQ8, so k * 32 of them are re-ranked (cheap from RAM):
# k * 16 left the tier lists short of their recall floor
# (docs/experiments/2026-11-23-search-at-scale.md#pq-re-rank-depth).
PQ_RERANK_FACTOR = 32
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
# auto's preference above the flat limit: the most precise candidate codes first, re-rank rows in RAM
# before rows read from disk (disk rows are slow whenever the OS has not kept them in its page cache).
AUTO_LADDER = (("ivf", True), ("ivfpq", True), ("ivf", False), ("ivfpq", False))


@dataclass(frozen=True)
class IndexChoice:
    kind: str  # flat | ivf | hnsw | other (a factory string's index without a known effort knob)
    factory: str
    reason: str
    effort: SearchEffort | None = None
    bytes_per_vector: int = 0  # estimated RAM: index, re-rank rows when in RAM, metadata
    rows_in_memory: bool = False  # float16 re-rank rows loaded into RAM, or read from disk per query
    params: dict[str, Any] = field(default_factory=dict)

    def to_manifest(self) -> dict[str, Any]:
        params = dict(self.params)
        if self.effort is not None:
            params["effort"] = self.effort.to_json()
            params["rerank_rows"] = "memory" if self.rows_in_memory else "disk"
        return {
            "type": self.kind,
            "metric": "inner_product",
            "factory": self.factory,
            "params": params,
            "chosen_because": self.reason,
            "estimated_ram_bytes_per_vector": self.bytes_per_vector,
        }


def parse_size(text: str) -> int:
    """'1.5GB', '800MiB', '1200000' -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise InvalidParameterError(f"cannot read memory size {text!r}; use e.g. 800MB, 2GiB or 1200000")
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit.startswith("i"):
        raise InvalidParameterError(f"cannot read memory size {text!r}; use e.g. 800MB, 2GiB or 1200000")
    scale = 1024 ** ("kmgt".index(unit[0]) + 1) if "i" in unit else _UNITS[unit[:1]]
    return int(number * scale)


def _nlist(n: int) -> int:
    # ~4 sqrt(n) lists (faiss's guidance), but at least 39 training points per list.
    return max(1, min(round(4 * math.sqrt(n)), n // 39))


def _pq_subquantizers(dim: int) -> int:
    """One byte per 8 dimensions, rounded to a divisor of dim."""
    return max(m for m in range(1, max(1, dim // 8) + 1) if dim % m == 0)


def _bytes(kind: str, dim: int, rows_in_memory: bool = False) -> int:
    per_vector = {
        "flat": 4 * dim,
        "ivf": dim + 8 + 4,  # SQ8 code + 64-bit id + the vector's list number (ivf_probe)
        "ivfpq": _pq_subquantizers(dim) + 8 + 4,
        "hnsw": dim + 2 * HNSW_LINKS * 4 + 16,  # SQ8 code + level-0 links + upper levels
    }[kind]
    rows = 2 * dim if rows_in_memory and kind != "flat" else 0
    return per_vector + rows + METADATA_BYTES_PER_VECTOR


def _named(kind: str, n: int, dim: int, reason: str, rows_in_memory: bool) -> IndexChoice:
    size = _bytes(kind, dim, rows_in_memory)
    if kind == "flat":
        return IndexChoice("flat", "Flat", reason, None, size)
    if kind == "hnsw":
        factory, effort = f"HNSW{HNSW_LINKS},SQ8", SearchEffort(base=64)
        return IndexChoice("hnsw", factory, reason, effort, size, rows_in_memory)
    nlist = _nlist(n)
    effort = SearchEffort(base=max(8, nlist // 128))
    if kind == "ivf":
        return IndexChoice("ivf", f"IVF{nlist},SQ8", reason, effort, size, rows_in_memory)
    nbits = 8 if n >= 256 * 39 else 4  # an 8-bit codebook needs ~10k training points
    pq_effort = SearchEffort(effort.base, effort.filtered_share, rerank_factor=PQ_RERANK_FACTOR)
    factory = f"IVF{nlist},PQ{_pq_subquantizers(dim)}x{nbits}"
    return IndexChoice("ivf", factory, reason, pq_effort, size, rows_in_memory)


def choose_index(requested: str, n: int, dim: int, memory_budget: int | None = None) -> IndexChoice:
    """The index for n vectors of dim dimensions. `memory_budget`: bytes of RAM for the whole index
    (default DEFAULT_RAM_BYTES_PER_VECTOR per vector)."""
    requested = requested.strip()
    if not requested:
        raise InvalidParameterError(
            f"index type is empty; use one of {', '.join(NAMED_TYPES)} or a faiss factory string"
        )
    per_vector = memory_budget / max(1, n) if memory_budget is not None else DEFAULT_RAM_BYTES_PER_VECTOR
    budget_text = f"{per_vector:,.0f} B/vector budget" + ("" if memory_budget is not None else " (default)")
    name = requested.lower()
    if name == "auto":
        if n <= FLAT_MAX_VECTORS and (memory_budget is None or _bytes("flat", dim) <= per_vector):
            reason = f"auto: {n:,} vectors <= {FLAT_MAX_VECTORS:,}, exact search is fast enough"
            return _named("flat", n, dim, reason, False)
        for kind, in_memory in AUTO_LADDER:
            size = _bytes(kind, dim, in_memory)
            if size <= per_vector:
                rows = "re-rank rows in RAM" if in_memory else "re-rank rows read from disk"
                reason = f"auto: {n:,} vectors, {budget_text}: {kind} with {rows}, ~{size} B/vector in RAM"
                return _named(kind, n, dim, reason, in_memory)
        smallest = _bytes(*AUTO_LADDER[-1])
        raise InvalidParameterError(
            f"memory budget of {per_vector:,.0f} bytes per vector is below the smallest index "
            f"(ivfpq with re-rank rows on disk, ~{smallest} B/vector); raise the budget"
        )
    if name in NAMED_TYPES:
        in_memory = name != "flat" and _bytes(name, dim, True) <= per_vector
        return _named(name, n, dim, f"requested: {name}, {budget_text}", in_memory)
    return _factory_choice(requested, n, dim, per_vector)


def _factory_choice(factory: str, n: int, dim: int, per_vector: float) -> IndexChoice:
    import faiss

    from snapbuy.index.approximate import index_kind

    try:
        probe = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else "invalid"
        raise InvalidParameterError(
            f"index type {factory!r} is neither one of {', '.join(NAMED_TYPES)} nor a faiss factory "
            f"string faiss accepts ({first_line})"
        ) from exc
    if isinstance(probe, faiss.IndexFlat):
        return IndexChoice("flat", "Flat", f"requested factory {factory!r}", None, _bytes("flat", dim))
    kind = index_kind(probe)
    ivf = faiss.try_extract_index_ivf(probe)
    base = max(8, int(ivf.nlist) // 128) if ivf is not None else 64 if kind == "hnsw" else 1
    # The codes' size is the factory's business; the rows go to RAM if they alone fit the budget.
    in_memory = 2 * dim + METADATA_BYTES_PER_VECTOR <= per_vector
    reason = f"requested factory {factory!r}"
    return IndexChoice(kind, factory, reason, SearchEffort(base=base), 0, rows_in_memory=in_memory)
