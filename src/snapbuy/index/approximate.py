"""Approximate search (IVF, HNSW or any faiss factory index) over compressed codes, re-ranked exactly.

Filtered search is the hard case: a tier of a small category may be 0.3 % of the catalog, and a search
that filters after an approximate pass then returns too few or wrong neighbours. Here the filter goes
into the search itself (an id selector; tier partitions are contiguous id ranges, so IVF scans only the
partition's slice of each list), the search effort grows as the allowed share shrinks, and partitions
small enough to score directly are searched exactly. Effort is passed per call, never set on the index."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from snapbuy.index.base import IdFilter, VectorIndex, empty_result, faiss_selector
from snapbuy.index.exact_rows import EXACT_ROWS_FILE, ExactRows
from snapbuy.index.files import VECTORS_FILE
from snapbuy.index.ivf_probe import ListMembership

# Filtered searches allowing at most this many vectors score them all from the exact rows.
EXACT_SCAN_LIMIT = 256
HNSW_MAX_EF = 4096


@dataclass(frozen=True)
class SearchEffort:
    """`base`: nprobe (IVF) or efSearch (HNSW) for an unfiltered search. `filtered_share`: an IVF
    search filtered to an id range probes the lists nearest the query that together hold this share of
    the range's vectors (at least `base` lists). `rerank_factor`: k * rerank_factor candidates are
    re-scored exactly."""

    base: int = 32
    filtered_share: float = 0.5
    rerank_factor: int = 4

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def scaled(self, scale: float) -> SearchEffort:
        """This effort with `base` multiplied by `scale` (at least 1)."""
        return self if scale == 1.0 else replace(self, base=max(1, round(self.base * scale)))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchEffort:
        return cls(int(data["base"]), float(data["filtered_share"]), int(data["rerank_factor"]))


def index_kind(index: Any) -> str:
    import faiss

    lib: Any = faiss
    inner = index.index if isinstance(index, lib.IndexPreTransform) else index
    if lib.try_extract_index_ivf(inner) is not None:
        return "ivf"
    if isinstance(inner, lib.IndexHNSW):
        return "hnsw"
    return "other"


def _best_k(ids: np.ndarray, exact: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (scores, ids) by exact score, high to low, padded with -1 ids."""
    order = np.argsort(-exact, kind="stable")[:k]
    scores, out_ids = empty_result(k)
    scores[: len(order)] = exact[order]
    out_ids[: len(order)] = ids[order]
    return scores, out_ids


def _list_membership(ivf: Any) -> ListMembership | None:
    """Range filters probe the lists that hold the range (see ivf_probe). That needs an inner-product
    quantizer whose centroids can be read; other IVF indexes (and pre-transformed ones, whose queries
    would need the transform first) keep the share-based rule."""
    import faiss

    if ivf is None or ivf.quantizer.metric_type != faiss.METRIC_INNER_PRODUCT:
        return None
    try:
        return ListMembership(ivf)
    except RuntimeError:  # a quantizer that cannot reconstruct its centroids
        return None


class ApproximateIndex(VectorIndex):
    def __init__(
        self, ann: Any, exact: ExactRows, effort: SearchEffort, lists: ListMembership | None = None
    ) -> None:
        import faiss

        if ann.ntotal != exact.ntotal:
            raise ValueError(f"index holds {ann.ntotal} vectors but the exact rows hold {exact.ntotal}")
        self._ann = ann
        self._exact = exact
        self.effort = effort
        self.kind = index_kind(ann)
        ivf = faiss.try_extract_index_ivf(ann)
        self._nlist = int(ivf.nlist) if ivf is not None else 0
        self._lists = lists or (
            _list_membership(ivf) if not isinstance(ann, faiss.IndexPreTransform) else None
        )
        if ivf is not None:
            # Queries come one at a time: split each query's list scan over the cores rather than
            # parallelising over queries (faiss's default), which answers sooner
            # (docs/experiments/2026-11-23-search-at-scale.md#ivf-parallel-mode).
            ivf.parallel_mode = 1

    @classmethod
    def load(cls, folder: Path, effort: SearchEffort, rows_in_memory: bool = False) -> ApproximateIndex:
        import faiss

        ann = faiss.read_index(str(folder / VECTORS_FILE))
        rows_file, dim = folder / EXACT_ROWS_FILE, int(ann.d)
        rows = ExactRows.load(rows_file, dim) if rows_in_memory else ExactRows.open(rows_file, dim)
        return cls(ann, rows, effort)

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self._ann, str(folder / VECTORS_FILE))
        self._exact.save(folder / EXACT_ROWS_FILE)

    def close(self) -> None:
        self._exact.close()

    def with_effort(self, effort: SearchEffort) -> ApproximateIndex:
        """The same index and rows with another default effort; close only the original, which owns
        the open file. (A sweep over efforts passes `effort_scale` per call instead.)"""
        return ApproximateIndex(self._ann, self._exact, effort, self._lists)

    @property
    def ntotal(self) -> int:
        return int(self._ann.ntotal)

    @property
    def dim(self) -> int:
        return int(self._ann.d)

    def reconstruct(self, vector_ids: list[int]) -> np.ndarray:
        return self._exact.rows(np.asarray(vector_ids, dtype=np.int64))

    def range_vectors(self, start: int, end: int) -> np.ndarray:
        return self._exact.range_rows(start, end)

    def search_batch(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        results = [self.search(q, k) for q in np.asarray(queries, dtype=np.float32)]
        return np.stack([r[0] for r in results]), np.stack([r[1] for r in results])

    def search(
        self,
        query: np.ndarray,
        k: int,
        id_filter: IdFilter | None = None,
        *,
        effort_scale: float = 1.0,
        wanted: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        effort = self.effort.scaled(effort_scale)
        k = max(1, min(k, self.ntotal))
        q = np.ascontiguousarray(query.reshape(-1), dtype=np.float32)
        flt = id_filter if id_filter is not None and not id_filter.is_empty else None
        allowed = flt.allowed_count(self.ntotal) if flt is not None else self.ntotal
        if allowed == 0:
            return empty_result(k)
        if flt is not None and (allowed <= EXACT_SCAN_LIMIT or self._graph_too_sparse(allowed, effort)):
            return self._exact_scan(q, k, flt)
        # The re-rank pool is sized for the results the caller keeps: rerank_factor was chosen for
        # k = 10, and 3x the pool for variant groups of three took the query from 7.7 to 36 ms at 1M
        # SKUs for about a point of the lowest tier's recall@10
        # (docs/experiments/2026-12-04-one-view.md#variant-groups-and-the-re-rank-pool).
        pool_for = min(k, wanted) if wanted is not None else k
        candidates = min(allowed, max(pool_for * effort.rerank_factor, k))
        selector, keep_alive = faiss_selector(flt, self.ntotal) if flt is not None else (None, [])
        if flt is not None and flt.id_range is not None and self._lists is not None:
            lists, coarse = self._lists.probe_order(
                q, flt.id_range, effort.filtered_share, min(effort.base, self._nlist)
            )
            params = self._ivf_params(selector, len(lists))
            ids = self._lists.search(q, candidates, lists, coarse, params)
        else:
            ids = self._ann.search(
                q.reshape(1, -1), candidates, params=self._params(selector, allowed, effort)
            )[1][0]
        del keep_alive  # the selector reads these buffers until search returns
        return self._rerank(q, ids, k)

    def _nprobe(self, share: float, filtered: bool, effort: SearchEffort) -> int:
        """Lists to probe without a range: a filter spread evenly over the catalog (a price mask)
        needs base / share lists to meet as many allowed codes as an unfiltered search."""
        base = effort.base
        if not filtered:
            return min(self._nlist, base)
        return max(1, min(self._nlist, math.ceil(base / max(share, 1e-12))))

    @staticmethod
    def _ivf_params(selector: Any, nprobe: int) -> Any:
        import faiss

        lib: Any = faiss  # faiss's type stubs lack the SWIG keyword constructors
        return lib.SearchParametersIVF(sel=selector, nprobe=nprobe)

    def _graph_too_sparse(self, allowed: int, effort: SearchEffort) -> bool:
        """A graph search that may step only on a tiny share of nodes needs efSearch beyond any sane
        bound to find k of them; scoring the allowed vectors directly is then both exact and faster."""
        return self.kind == "hnsw" and effort.base * self.ntotal > HNSW_MAX_EF * allowed

    def _rerank(self, q: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = ids[ids >= 0]
        if len(ids) == 0:
            return empty_result(k)
        return _best_k(ids, self._exact.rows(ids) @ q, k)

    def _exact_scan(self, q: np.ndarray, k: int, flt: IdFilter) -> tuple[np.ndarray, np.ndarray]:
        start, end = flt.id_range if flt.id_range is not None else (0, self.ntotal)
        if flt.mask is None:
            ids = np.arange(start, end, dtype=np.int64)
            exact = self._exact.range_rows(start, end) @ q
        else:
            ids = start + np.flatnonzero(flt.mask[start:end]).astype(np.int64)
            exact = self._exact.rows(ids) @ q
        return _best_k(ids, exact, k)

    def _params(self, selector: Any, allowed: int, effort: SearchEffort) -> Any:
        """Per-call search parameters: the filter plus effort scaled to the allowed share."""
        import faiss

        lib: Any = faiss  # faiss's type stubs lack the SWIG keyword constructors
        share = allowed / max(1, self.ntotal)
        if self.kind == "ivf":
            params = self._ivf_params(selector, self._nprobe(share, selector is not None, effort))
        elif self.kind == "hnsw":
            ef = min(HNSW_MAX_EF, math.ceil(effort.base / share))
            params = lib.SearchParametersHNSW(sel=selector, efSearch=ef)
        else:
            params = lib.SearchParameters(sel=selector)
        if isinstance(self._ann, lib.IndexPreTransform):
            return lib.SearchParametersPreTransform(sel=selector, index_params=params)
        return params
