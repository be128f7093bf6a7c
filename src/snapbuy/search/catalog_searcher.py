"""Query vector -> category, best matches and per-price-tier lists, over an injected vector index and
product store. Knows nothing of photos or models."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from snapbuy.catalog.model import AVAILABILITIES
from snapbuy.errors import BundleError, InvalidParameterError, NotFoundError, echo
from snapbuy.index import IdFilter, VectorIndex
from snapbuy.search.results import CatalogAnswer, ScoredProduct, SearchOptions, TierResult
from snapbuy.store import OUT_OF_STOCK, FilterColumns, ProductRecord, ProductStore
from snapbuy.tiers import TierBound

# Category vote: the nearest products vote with weight exp((score - best) / temperature), so a
# clear nearest neighbour dominates but a run of close ones can outvote it. Robust to negative scores.
# Every product votes, filtered out or not: an out-of-stock or out-of-budget exact match still says
# what the photo shows, and the lists then hold that category's products the shopper can have.
CATEGORY_VOTERS = 10
CATEGORY_VOTE_TEMPERATURE = 0.05
# Paging goes this deep into the matches at most: each page searches offset + k products' vectors.
MAX_OFFSET = 1000
# A listed design names at most this many of its other variants (a shirt in 12 colours and 8 sizes
# has 95); `variant_count` says how many there are, and GET /v1/products/{sku} lists them the same way.
MAX_LISTED_VARIANTS = 24


class CatalogSearcher:
    def __init__(
        self,
        index: VectorIndex,
        store: ProductStore,
        columns: FilterColumns,
        tier_bounds: Mapping[str, Sequence[TierBound]],
        name: str = "index",
    ) -> None:
        """`columns` are the store's filter columns (ProductStore.load_filter_columns); `name` names
        the catalog in errors (its bundle version)."""
        if index.ntotal != len(columns.vector_product):
            raise BundleError(
                f"{name} is inconsistent: {index.ntotal} vectors in the index, "
                f"{len(columns.vector_product)} vector rows in the product store"
            )
        self.index = index
        self.store = store
        self.columns = columns
        self.tier_bounds = {category: list(bounds) for category, bounds in tier_bounds.items()}
        self.name = name
        self._category_range, self._tier_range = self._partition_ranges()
        # Brand filters match in any case: each spelling's codes, found without a scan of every brand.
        self._brand_codes_by_name: dict[str, list[int]] = {}
        for code, name in enumerate(columns.brands):
            self._brand_codes_by_name.setdefault(name.casefold(), []).append(code)
        # Built once: the mask that hides out-of-stock products, or None when there are none to hide
        # (then a search without other filters needs no mask at all).
        self._orderable_vectors: np.ndarray | None = (
            None if columns.in_stock.all() else columns.in_stock[columns.vector_product]
        )

    def close(self) -> None:
        self.store.close()
        self.index.close()

    @property
    def dim(self) -> int:
        return self.index.dim

    @property
    def categories(self) -> tuple[str, ...]:
        return self.columns.categories

    def _partition_ranges(
        self,
    ) -> tuple[dict[str, tuple[int, int]], dict[tuple[str, str], tuple[int, int]]]:
        """Vectors are stored sorted by (category, tier), so each partition is one id range."""
        cols = self.columns
        vec_category = cols.category_code[cols.vector_product]
        vec_tier = cols.tier_code[cols.vector_product]
        categories: dict[str, tuple[int, int]] = {}
        tiers: dict[tuple[str, str], tuple[int, int]] = {}
        for code, name in enumerate(cols.categories):
            start = int(np.searchsorted(vec_category, code, side="left"))
            end = int(np.searchsorted(vec_category, code, side="right"))
            categories[name] = (start, end)
            for bound in self.tier_bounds.get(name, []):
                if bound.name not in cols.tiers:
                    tiers[(name, bound.name)] = (start, start)
                    continue
                hits = np.flatnonzero(vec_tier[start:end] == cols.tiers.index(bound.name))
                tiers[(name, bound.name)] = (
                    (start + int(hits[0]), start + int(hits[-1]) + 1) if len(hits) else (start, start)
                )
        return categories, tiers

    # --- lookups ---------------------------------------------------------------------------------

    def best_scores(self, vectors: np.ndarray) -> np.ndarray:
        """Each row's cosine similarity to its nearest catalog vector."""
        scores, _ = self.index.search_batch(vectors, 1)
        best: np.ndarray = scores[:, 0]
        return best

    def product(self, sku: str) -> ProductRecord:
        record = self.store.product_by_sku(sku)
        if record is None:
            raise NotFoundError(f"no product with sku {echo(sku)} in the index served")
        return record

    def product_with_variants(self, sku: str) -> ScoredProduct:
        """A product's record with the other products of its variant group (unscored)."""
        item = ScoredProduct.of(self.product(sku), None)
        variants, count = self._variants_of([item])[item.row]
        return replace(item, variants=variants, variant_count=count)

    def first_vector_of(self, record: ProductRecord) -> np.ndarray:
        """The stored vector of a product's first image."""
        vector: np.ndarray = self.index.reconstruct(self.store.vector_ids_of(record.row)[:1])[0]
        return vector

    # --- search ----------------------------------------------------------------------------------

    def search(
        self,
        query: np.ndarray,
        options: SearchOptions,
        *,
        exclude_row: int | None = None,
        category_source: str | None = None,
        effort_scale: float = 1.0,
        variant_query: np.ndarray | None = None,
    ) -> CatalogAnswer:
        """Matches and tier lists for one L2-normalised query vector. `effort_scale` multiplies an
        approximate index's search effort for this call (effort sweeps). With collapsed variants, a
        `variant_query` (the shopper's words, say) picks which variant shows for each design listed;
        the designs and their order stay the query's."""
        self._validate(options)
        allowed = self._allowed_products(options, exclude_row)
        mask = self._allowed_vectors(allowed)
        depth = options.offset + options.k  # matches are paged: the first `depth`, less the offset
        collapse = options.collapse
        if options.category is not None:
            category, source = options.category, category_source or "request"
            category_filter = IdFilter(self._category_range[category], mask)
            matches = self._top_products(query, depth, category_filter, effort_scale, collapse)
        else:
            everyone = self._top_products(query, max(depth, CATEGORY_VOTERS), None, effort_scale, collapse)
            category, source = self._vote(everyone), "predicted"
            # A group whose best variant is filtered out may still have an allowed variant, so with
            # collapsed variants the head of the unfiltered list only serves when nothing is filtered.
            head = _allowed_head(everyone, allowed, depth) if allowed is None or not collapse else None
            # When too few of the voters pass the filters, search the allowed products themselves.
            matches = (
                head
                if head is not None
                else self._top_products(query, depth, IdFilter(None, mask), effort_scale, collapse)
            )
        tiers = [
            TierResult(
                bound.name,
                bound.min_price,
                bound.max_price,
                self._top_products(
                    query,
                    options.k,
                    IdFilter(self._tier_range[(category, bound.name)], mask),
                    effort_scale,
                    collapse,
                ),
            )
            for bound in self.tier_bounds.get(category, [])
        ]
        # The tiers partition the category, so their lists hold the category's top k exactly (also
        # under an approximate index, which searches each partition on its own): a match the global
        # approximate pass missed inside the category is recovered here.
        key = self._group_key if collapse else _sku_key
        matches = _best_of(matches, [item for tier in tiers for item in tier.items], depth, key)
        answer = CatalogAnswer(category, source, matches[options.offset :], tiers)
        if not collapse:
            return answer
        if variant_query is not None:
            answer = self._variants_chosen_by(variant_query, answer, allowed, options.category)
        return self._with_variants(answer)

    def _variants_chosen_by(
        self,
        variant_query: np.ndarray,
        answer: CatalogAnswer,
        allowed: np.ndarray | None,
        requested_category: str | None,
    ) -> CatalogAnswer:
        """Each listed design shown by its variant closest to `variant_query`, among the variants that
        the list could hold: allowed by the filters, in the list's category (matches, when the request
        named one) or tier. The score stays the design's (its best variant's against the query), so
        the lists keep their order."""
        cols = self.columns
        category_code = cols.categories.index(answer.category)

        def eligible(rows: np.ndarray, tier: str | None) -> np.ndarray:
            keep = np.ones(len(rows), dtype=bool) if allowed is None else allowed[rows]
            if tier is not None or requested_category is not None:
                keep &= cols.category_code[rows] == category_code
            if tier is not None:
                tier_code = cols.tiers.index(tier) if tier in cols.tiers else -1
                keep &= cols.tier_code[rows] == tier_code
            kept: np.ndarray = rows[keep]
            return kept

        listed = [(item, None) for item in answer.matches] + [
            (item, tier.name) for tier in answer.tiers for item in tier.items
        ]
        candidates = {(item.row, tier): eligible(cols.variant_rows(item.row), tier) for item, tier in listed}
        rows = sorted({int(r) for found in candidates.values() for r in found})
        vector_ids = self.store.vector_ids_of_rows(rows)
        ids = [vid for row in rows for vid in vector_ids[row]]
        vectors = self.index.reconstruct(ids) if ids else np.zeros((0, self.dim), dtype=np.float32)
        owners = [row for row in rows for _ in vector_ids[row]]
        word_score: dict[int, float] = {}
        for row, score in zip(
            owners, (vectors @ np.asarray(variant_query, np.float32)).tolist(), strict=True
        ):
            word_score[row] = max(word_score.get(row, -np.inf), score)
        chosen = {
            key: max(found.tolist(), key=lambda r: word_score.get(r, -np.inf))
            for key, found in candidates.items()
            if len(found)
        }
        records = self.store.products_by_rows(sorted(set(chosen.values())))

        def shown(item: ScoredProduct, tier: str | None) -> ScoredProduct:
            row = chosen.get((item.row, tier), item.row)
            return item if row == item.row else ScoredProduct.of(records[row], item.score)

        return CatalogAnswer(
            answer.category,
            answer.category_source,
            [shown(item, None) for item in answer.matches],
            [
                TierResult(t.name, t.min_price, t.max_price, [shown(i, t.name) for i in t.items])
                for t in answer.tiers
            ],
        )

    def _group_key(self, item: ScoredProduct) -> int:
        return int(self.columns.group_code[item.row])

    def _with_variants(self, answer: CatalogAnswer) -> CatalogAnswer:
        """Each listed product with the other products of its variant group, read in one query."""
        variants = self._variants_of(
            [*answer.matches, *(item for tier in answer.tiers for item in tier.items)]
        )

        def listed(item: ScoredProduct) -> ScoredProduct:
            others, count = variants[item.row]
            return replace(item, variants=others, variant_count=count) if count else item

        return CatalogAnswer(
            answer.category,
            answer.category_source,
            [listed(item) for item in answer.matches],
            [
                TierResult(t.name, t.min_price, t.max_price, [listed(i) for i in t.items])
                for t in answer.tiers
            ],
        )

    def _variants_of(
        self, items: Sequence[ProductRecord]
    ) -> dict[int, tuple[tuple[ProductRecord, ...], int]]:
        """For each item's row, the first MAX_LISTED_VARIANTS other products of its variant group in
        row order and how many others there are, all read from the store in one query."""
        others = {
            item.row: [int(r) for r in self.columns.variant_rows(item.row) if int(r) != item.row]
            for item in items
        }
        listed = {row: rows[:MAX_LISTED_VARIANTS] for row, rows in others.items()}
        records = self.store.products_by_rows(sorted({r for rows in listed.values() for r in rows}))
        return {row: (tuple(records[r] for r in listed[row]), len(rows)) for row, rows in others.items()}

    def _validate(self, options: SearchOptions) -> None:
        if options.k < 1:
            raise InvalidParameterError(f"k must be at least 1, got {options.k}")
        if options.category is not None and options.category not in self._category_range:
            known = ", ".join(self.columns.categories[:20])
            raise InvalidParameterError(f"unknown category {echo(options.category)}; this index has: {known}")
        if options.offset < 0 or options.offset > MAX_OFFSET:
            raise InvalidParameterError(f"offset must be from 0 to {MAX_OFFSET}, got {options.offset}")
        if options.brand is not None and not self._brand_codes(options.brand):
            known = ", ".join(self.columns.brands[:20]) or "none"
            raise InvalidParameterError(f"unknown brand {echo(options.brand)}; this index has: {known}")
        if unknown := [a for a in options.availability if a not in AVAILABILITIES]:
            raise InvalidParameterError(
                f"unknown availability {echo(unknown[0])}; one of: {', '.join(AVAILABILITIES)}"
            )
        lo, hi = options.min_price, options.max_price
        if (lo is not None and lo < 0) or (hi is not None and hi < 0):
            raise InvalidParameterError("min_price and max_price must not be negative")
        if lo is not None and hi is not None and lo > hi:
            raise InvalidParameterError(f"min_price {lo} is greater than max_price {hi}")

    def _hides_out_of_stock(self, options: SearchOptions) -> bool:
        return (
            self._orderable_vectors is not None
            and not options.include_out_of_stock
            and OUT_OF_STOCK not in options.availability
        )

    def _brand_codes(self, brand: str) -> list[int]:
        """The codes of the index's brands spelt `brand` in any case."""
        return self._brand_codes_by_name.get(brand.casefold(), [])

    def _allowed_products(self, options: SearchOptions, exclude_row: int | None) -> np.ndarray | None:
        """Boolean mask over product rows for stock, availability, brand, the price filter (on the
        price paid) and an excluded product, or None when every product is allowed."""
        hide_out_of_stock = self._hides_out_of_stock(options)
        cols = self.columns
        if (
            options.min_price is None
            and options.max_price is None
            and exclude_row is None
            and options.brand is None
            and not options.availability
        ):
            return cols.in_stock if hide_out_of_stock else None
        allowed = cols.in_stock.copy() if hide_out_of_stock else np.ones(len(cols.in_stock), dtype=bool)
        if options.min_price is not None:
            allowed &= cols.price_paid >= options.min_price
        if options.max_price is not None:
            allowed &= cols.price_paid <= options.max_price
        if options.brand is not None:
            allowed &= np.isin(cols.brand_code, self._brand_codes(options.brand))
        if options.availability:
            codes = [i for i, name in enumerate(cols.availabilities) if name in options.availability]
            allowed &= np.isin(cols.availability_code, codes)
        if exclude_row is not None:
            allowed[exclude_row] = False
        return allowed

    def _allowed_vectors(self, allowed_products: np.ndarray | None) -> np.ndarray | None:
        """The product mask over vector ids, passed into the vector search so that no list comes back
        short; the stock filter alone reuses the mask built at load."""
        if allowed_products is None:
            return None
        if allowed_products is self.columns.in_stock and self._orderable_vectors is not None:
            return self._orderable_vectors
        by_vector: np.ndarray = allowed_products[self.columns.vector_product]
        return by_vector

    def _top_products(
        self, query: np.ndarray, k: int, id_filter: IdFilter | None, effort_scale: float, collapse: bool
    ) -> list[ScoredProduct]:
        """The k best products by their best-scoring vector, or with `collapse` the best-scoring
        product of each of the k best variant groups. Searching k * m vectors (m = most vectors any
        product, or group, owns) is exact: at most (k-1) * m vectors can outrank the k-th one's best."""
        cols = self.columns
        per_unit = max(1, cols.max_vectors_per_group if collapse else cols.max_vectors_per_product)
        scores, ids = self.index.search(query, k * per_unit, id_filter, effort_scale=effort_scale, wanted=k)
        rows: list[int] = []
        best: dict[int, float] = {}
        seen: set[int] = set()
        for score, vid in zip(scores, ids, strict=True):
            if vid < 0:
                break
            row = int(cols.vector_product[vid])
            unit = int(cols.group_code[row]) if collapse else row
            if unit not in seen:
                seen.add(unit)
                best[row] = float(score)
                rows.append(row)
                if len(rows) == k:
                    break
        records = self.store.products_by_rows(rows)
        return [ScoredProduct.of(records[row], best[row]) for row in rows]

    def _vote(self, neighbours: list[ScoredProduct]) -> str:
        if not neighbours:
            return self.columns.categories[0]
        top = neighbours[0].score or 0.0
        weights: dict[str, float] = {}
        for item in neighbours[:CATEGORY_VOTERS]:
            weight = float(np.exp(((item.score or 0.0) - top) / CATEGORY_VOTE_TEMPERATURE))
            weights[item.category] = weights.get(item.category, 0.0) + weight
        return max(weights.items(), key=lambda kv: kv[1])[0]


def _allowed_head(
    ranked: list[ScoredProduct], allowed: np.ndarray | None, k: int
) -> list[ScoredProduct] | None:
    """The first k allowed products of a best-first list of the overall nearest, or None when it holds
    fewer than k of them (then the allowed products beyond it must be searched)."""
    if allowed is None:
        return ranked[:k]
    head = [item for item in ranked if allowed[item.row]][:k]
    return head if len(head) == k else None


def _sku_key(item: ScoredProduct) -> str:
    return item.sku


def _best_of(
    first: list[ScoredProduct],
    more: list[ScoredProduct],
    k: int,
    key: Callable[[ScoredProduct], Hashable] = _sku_key,
) -> list[ScoredProduct]:
    """The k highest-scoring distinct products (or, by `key`, variant groups) of both lists, best
    first; of two items with one key, the higher-scoring stays."""
    by_key: dict[Hashable, ScoredProduct] = {}
    for item in [*first, *more]:
        kept = by_key.get(key(item))
        if kept is None or (item.score or 0.0) > (kept.score or 0.0):
            by_key[key(item)] = item
    return sorted(by_key.values(), key=lambda item: -(item.score or 0.0))[:k]
