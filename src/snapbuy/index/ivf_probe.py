"""Which IVF lists a filtered search should probe, from where the allowed vectors actually live.

A tier partition is a contiguous id range. Probing the lists nearest the query is right when the
partition surrounds the query (the predicted category), and wrong when it lies elsewhere (a category the
request names): the nearest lists then hold none of it. So the lists are ranked by closeness to the
query as usual, lists without a member of the range are skipped, and the nearest ones holding a given
share of the range's vectors are probed."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _centroids(ivf: Any) -> np.ndarray:
    """The coarse centroids: a view of a flat quantizer's own storage (no copy), else a copy."""
    import faiss

    quantizer = faiss.downcast_index(ivf.quantizer)
    if isinstance(quantizer, faiss.IndexFlat):
        view: np.ndarray = faiss.rev_swig_ptr(quantizer.get_xb(), ivf.nlist * ivf.d).reshape(ivf.nlist, ivf.d)
        return view
    return np.asarray(quantizer.reconstruct_n(0, ivf.nlist), dtype=np.float32)


class ListMembership:
    """The IVF list of every vector (4 bytes per vector), read once from the inverted lists, and the
    list centroids (so ranking lists is one small matrix product, not a faiss search over all lists)."""

    def __init__(self, ivf: Any) -> None:
        import faiss

        self._ivf = ivf
        self.nlist = int(ivf.nlist)
        self.centroids = _centroids(ivf)
        # int16 list numbers while they fit: 2 bytes per vector instead of 4.
        self.list_of_vector = np.full(int(ivf.ntotal), -1, dtype=np.int16 if self.nlist < 2**15 else np.int32)
        invlists = ivf.invlists
        for list_no in range(self.nlist):
            size = invlists.list_size(list_no)
            if size:
                ids = faiss.rev_swig_ptr(invlists.get_ids(list_no), size)
                self.list_of_vector[np.asarray(ids, dtype=np.int64)] = list_no

    def probe_order(
        self, query: np.ndarray, id_range: tuple[int, int], share: float, min_lists: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(list ids, coarse scores), nearest first: the nearest lists that together hold `share` of
        the range's vectors, and at least `min_lists` of the lists holding any."""
        start, end = id_range
        members = np.bincount(self.list_of_vector[start:end], minlength=self.nlist)
        holding = np.flatnonzero(members)
        # Inner-product quantizer: the coarse score is the query's dot product with the centroid
        # (by-residual codes need it exactly, to add the residual's part).
        scores = self.centroids[holding] @ query
        nearest_first = np.argsort(-scores, kind="stable")
        order, coarse_scores = holding[nearest_first], scores[nearest_first]
        cumulative = np.cumsum(members[order])
        wanted = int(np.searchsorted(cumulative, math.ceil(share * cumulative[-1]))) + 1
        count = min(len(order), max(wanted, min_lists))
        return order[:count].astype(np.int64), coarse_scores[:count].astype(np.float32)

    def search(
        self, query: np.ndarray, k: int, lists: np.ndarray, coarse: np.ndarray, params: Any
    ) -> np.ndarray:
        """Top-k ids from the given lists only (params carry the selector and nprobe = len(lists))."""
        import faiss

        scores = np.empty((1, k), dtype=np.float32)
        ids = np.empty((1, k), dtype=np.int64)
        assign = np.ascontiguousarray(lists.reshape(1, -1))
        centroid_scores = np.ascontiguousarray(coarse.reshape(1, -1))
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        # The Python wrapper of search_preassigned refuses search parameters; the C++ call takes them.
        self._ivf.search_preassigned_c(
            1,
            faiss.swig_ptr(q),
            k,
            faiss.swig_ptr(assign),
            faiss.swig_ptr(centroid_scores),
            faiss.swig_ptr(scores),
            faiss.swig_ptr(ids),
            False,
            params,
        )
        found: np.ndarray = ids[0]
        return found
