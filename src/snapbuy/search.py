"""SearchService: query embedding -> category -> best matches + per-tier top-k. Used by API, CLI, bench."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from snapbuy.bundle import BundleVersion, open_current
from snapbuy.crops import (
    DEFAULT_BOX_MARGINS,
    DEFAULT_BOX_SHIFT,
    DEFAULT_CROP_SCALES,
    FRAMING_TEMPERATURE,
    Box,
    box_framings,
    box_views,
    query_crops,
)
from snapbuy.embed.base import Embedder, input_side
from snapbuy.errors import BundleError, ConfigError, InvalidParameterError, NotFoundError
from snapbuy.index import IdFilter, load_vector_index
from snapbuy.store import ProductRecord, ProductStore
from snapbuy.tiers import TierBound

if TYPE_CHECKING:
    from snapbuy.localiser import ProductLocaliser

# Category vote: the nearest products vote with weight exp((score - best) / temperature), so a
# clear nearest neighbour dominates but a run of close ones can outvote it. Robust to negative scores.
CATEGORY_VOTERS = 10
CATEGORY_VOTE_TEMPERATURE = 0.05


@dataclass(frozen=True)
class SearchOptions:
    k: int = 4
    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None


@dataclass(frozen=True)
class SearchItem:
    sku: str
    title: str
    brand: str | None
    category: str
    price: float
    currency: str
    tier: str
    item_group_id: str | None
    score: float | None = None


@dataclass(frozen=True)
class TierResult:
    name: str
    min_price: float | None
    max_price: float | None
    items: list[SearchItem]


@dataclass
class SearchResult:
    category: str
    category_source: str  # "request", "predicted" or "product"
    matches: list[SearchItem]
    tiers: list[TierResult]
    model: str
    index_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    product_box: Box | None = None  # where the localiser found the product in the photo, if it did


def _mean_direction(vectors: np.ndarray) -> np.ndarray:
    """The unit vector along the mean of unit vectors: their consensus, comparable by dot product."""
    mean: np.ndarray = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def _item(record: ProductRecord, score: float | None = None) -> SearchItem:
    return SearchItem(
        sku=record.sku,
        title=record.title,
        brand=record.brand,
        category=record.category,
        price=record.price,
        currency=record.currency,
        tier=record.tier,
        item_group_id=record.item_group_id,
        score=score,
    )


class SearchService:
    def __init__(
        self,
        embedder: Embedder,
        bundle: BundleVersion,
        crop_scales: Sequence[float] = DEFAULT_CROP_SCALES,
        localiser: ProductLocaliser | None = None,
        box_margins: Sequence[float] = DEFAULT_BOX_MARGINS,
        mirror_views: bool = True,
        box_shift: float = DEFAULT_BOX_SHIFT,
        framing_temperature: float = FRAMING_TEMPERATURE,
    ) -> None:
        """`crop_scales`: photo crops tried to find the product in clutter; empty = the photo alone.
        `localiser`: finds the product in a photo; when given, crops around the box it finds replace
        the crop grid: squares of `box_margins` times the box and four moved by `box_shift` of it
        (crops.box_framings), with `mirror_views` their mirror images too, embedded and averaged,
        each framing weighted by a softmax at `framing_temperature` over its best catalog match."""
        bundle.check_model(embedder.identity)
        if not box_margins or min(box_margins) <= 0:
            raise ConfigError(f"box margins must be at least one positive number, not {list(box_margins)}")
        if box_shift < 0 or framing_temperature < 0:
            raise ConfigError(
                f"the box shift ({box_shift}) and the framing temperature ({framing_temperature}) "
                "must not be negative"
            )
        self.embedder = embedder
        self.crop_scales = tuple(crop_scales)
        self.localiser = localiser
        self.box_margins = tuple(box_margins)
        self.mirror_views = mirror_views
        self.box_shift = box_shift
        self.framing_temperature = framing_temperature
        self.framings = box_framings(self.box_margins, box_shift)
        # Views are shrunk to about twice the model's input side before its own preprocessing.
        side = input_side(embedder.identity.preprocessing)
        self._view_side = 2 * side if side is not None else None
        self.bundle = bundle
        self.index = load_vector_index(bundle.path, bundle.manifest.index)
        self.store = ProductStore(bundle.products_path)
        self.columns = self.store.load_filter_columns()
        if self.index.ntotal != len(self.columns.vector_product) or self.index.dim != embedder.dim:
            raise BundleError(
                f"index {bundle.path} is inconsistent: {self.index.ntotal} vectors of dim {self.index.dim}, "
                f"{len(self.columns.vector_product)} vector rows in {bundle.products_path.name}"
            )
        self._category_range, self._tier_range = self._partition_ranges()

    @classmethod
    def open(
        cls, index_root: Path, embedder: Embedder, crop_scales: Sequence[float] = DEFAULT_CROP_SCALES
    ) -> SearchService:
        return cls(embedder, open_current(index_root), crop_scales)

    def close(self) -> None:
        self.store.close()
        self.index.close()

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
            for bound in self.bundle.manifest.tier_bounds.get(name, []):
                if bound.name not in cols.tiers:
                    tiers[(name, bound.name)] = (start, start)
                    continue
                hits = np.flatnonzero(vec_tier[start:end] == cols.tiers.index(bound.name))
                tiers[(name, bound.name)] = (
                    (start + int(hits[0]), start + int(hits[-1]) + 1) if len(hits) else (start, start)
                )
        return categories, tiers

    # --- queries -------------------------------------------------------------------------------

    def embed_image(self, image: Image.Image) -> np.ndarray:
        return self.locate_and_embed(image)[0]

    def locate_and_embed(self, image: Image.Image) -> tuple[np.ndarray, Box | None]:
        """The query vector of a photo, judged on the product's own pixels rather than the scene's:
        with a localiser, the weighted mean direction of the framings of the product box it finds
        (returned too); otherwise (or when it finds none), of the photo or the grid crop whose nearest
        catalog vector is closest."""
        if self.localiser is not None:
            box = self.localiser.find(image)
            if box is not None:
                views = self.embedder.embed_images(
                    box_views(image, box, self.framings, self.mirror_views, self._view_side)
                )
                return self._weighted_framings(views), box
        vectors = self.embedder.embed_images(query_crops(image, self.crop_scales))
        if len(vectors) == 1:
            return np.asarray(vectors[0]), None
        best_scores, _ = self.index.search_batch(vectors, 1)
        return np.asarray(vectors[int(np.argmax(best_scores[:, 0]))]), None

    def _weighted_framings(self, views: np.ndarray) -> np.ndarray:
        """One query from the views of every framing (then their mirror images, as box_views orders
        them): each framing's mean direction, weighted by a softmax over how closely it matches its
        nearest catalog vector, so the framings that show the product as the catalog does count most."""
        count = len(self.framings)
        per_framing = np.stack([_mean_direction(views[i::count]) for i in range(count)])
        if self.framing_temperature == 0 or count == 1:
            return _mean_direction(per_framing)
        best, _ = self.index.search_batch(per_framing, 1)
        closeness = best[:, 0].astype(np.float64)
        weights = np.exp((closeness - closeness.max()) / self.framing_temperature)
        return _mean_direction(per_framing * weights[:, None].astype(np.float32))

    def search_image(self, image: Image.Image, options: SearchOptions) -> SearchResult:
        started = time.perf_counter()
        query, box = self.locate_and_embed(image)
        result = self._timed(query, options, started)
        result.product_box = box
        return result

    def search_text(self, text: str, options: SearchOptions) -> SearchResult:
        if not text.strip():
            raise InvalidParameterError("text query 'q' is empty")
        started = time.perf_counter()
        query = self.embedder.embed_texts([text])[0]
        return self._timed(query, options, started)

    def similar(self, sku: str, options: SearchOptions) -> SearchResult:
        """Lookalikes of a catalog product (its first image), the product itself left out."""
        record = self.product_record(sku)
        started = time.perf_counter()
        vector_ids = self.store.vector_ids_of(record.row)
        query = self.index.reconstruct(vector_ids[:1])[0]
        source = "request"
        if options.category is None:
            options = SearchOptions(options.k, record.category, options.min_price, options.max_price)
            source = "product"
        result = self.search_vector(query, options, exclude_row=record.row, category_source=source)
        result.timings_ms["total"] = _ms_since(started)
        return result

    def product_record(self, sku: str) -> ProductRecord:
        record = self.store.product_by_sku(sku)
        if record is None:
            raise NotFoundError(f"no product with sku {sku!r} in index {self.bundle.manifest.version}")
        return record

    def product(self, sku: str) -> SearchItem:
        return _item(self.product_record(sku))

    def _timed(self, query: np.ndarray, options: SearchOptions, started: float) -> SearchResult:
        embed_ms = _ms_since(started)
        result = self.search_vector(query, options)
        result.timings_ms["embed"] = round(embed_ms, 3)
        result.timings_ms["total"] = _ms_since(started)
        return result

    def search_vector(
        self,
        query: np.ndarray,
        options: SearchOptions,
        *,
        exclude_row: int | None = None,
        category_source: str | None = None,
    ) -> SearchResult:
        """Matches and tier lists for one L2-normalised query vector."""
        self._validate(options)
        started = time.perf_counter()
        mask = self._explicit_mask(options, exclude_row)
        category_filter = self._category_range[options.category] if options.category else None
        # Enough vectors to hold the k best products even if each owns max_vectors_per_product vectors.
        voters = max(options.k, CATEGORY_VOTERS) if options.category is None else options.k
        best = self._top_products(query, voters, IdFilter(category_filter, mask))
        matches = best[: options.k]
        if options.category is not None:
            category, source = options.category, category_source or "request"
        else:
            unfiltered = best if mask is None else self._top_products(query, voters, None)
            category, source = self._vote(unfiltered), "predicted"
        tiers = [
            TierResult(
                bound.name,
                bound.min_price,
                bound.max_price,
                self._top_products(
                    query, options.k, IdFilter(self._tier_range[(category, bound.name)], mask)
                ),
            )
            for bound in self._tier_bounds(category)
        ]
        # The tiers partition the category, so their lists hold the category's top k exactly (also
        # under an approximate index, which searches each partition on its own): a match the global
        # approximate pass missed inside the category is recovered here.
        matches = _best_of(matches, [item for tier in tiers for item in tier.items], options.k)
        return SearchResult(
            category=category,
            category_source=source,
            matches=matches,
            tiers=tiers,
            model=self.embedder.identity.spec,
            index_version=self.bundle.manifest.version,
            timings_ms={"search": _ms_since(started)},
        )

    def _tier_bounds(self, category: str) -> list[TierBound]:
        return self.bundle.manifest.tier_bounds.get(category, [])

    def _validate(self, options: SearchOptions) -> None:
        if options.k < 1:
            raise InvalidParameterError(f"k must be at least 1, got {options.k}")
        if options.category is not None and options.category not in self._category_range:
            known = ", ".join(self.columns.categories[:20])
            raise InvalidParameterError(f"unknown category {options.category!r}; this index has: {known}")
        lo, hi = options.min_price, options.max_price
        if (lo is not None and lo < 0) or (hi is not None and hi < 0):
            raise InvalidParameterError("min_price and max_price must not be negative")
        if lo is not None and hi is not None and lo > hi:
            raise InvalidParameterError(f"min_price {lo} is greater than max_price {hi}")

    def _explicit_mask(self, options: SearchOptions, exclude_row: int | None) -> np.ndarray | None:
        """Boolean mask over vector ids for the price filter and an excluded product, or None."""
        if options.min_price is None and options.max_price is None and exclude_row is None:
            return None
        cols = self.columns
        allowed = np.ones(len(cols.price), dtype=bool)
        if options.min_price is not None:
            allowed &= cols.price >= options.min_price
        if options.max_price is not None:
            allowed &= cols.price <= options.max_price
        if exclude_row is not None:
            allowed[exclude_row] = False
        by_vector: np.ndarray = allowed[cols.vector_product]
        return by_vector

    def _top_products(self, query: np.ndarray, k: int, id_filter: IdFilter | None) -> list[SearchItem]:
        """The k best products by their best-scoring vector. Searching k * m vectors (m = most vectors
        any product owns) is exact: at most (k-1) * m vectors can outrank the k-th product's best."""
        per_product = max(1, self.columns.max_vectors_per_product)
        scores, ids = self.index.search(query, k * per_product, id_filter)
        rows: list[int] = []
        best: dict[int, float] = {}
        for score, vid in zip(scores, ids, strict=True):
            if vid < 0:
                break
            row = int(self.columns.vector_product[vid])
            if row not in best:
                best[row] = float(score)
                rows.append(row)
                if len(rows) == k:
                    break
        records = self.store.products_by_rows(rows)
        return [_item(records[row], best[row]) for row in rows]

    def _vote(self, neighbours: list[SearchItem]) -> str:
        if not neighbours:
            return self.columns.categories[0]
        top = neighbours[0].score or 0.0
        weights: dict[str, float] = {}
        for item in neighbours[:CATEGORY_VOTERS]:
            weight = float(np.exp(((item.score or 0.0) - top) / CATEGORY_VOTE_TEMPERATURE))
            weights[item.category] = weights.get(item.category, 0.0) + weight
        return max(weights.items(), key=lambda kv: kv[1])[0]


def _best_of(first: list[SearchItem], more: list[SearchItem], k: int) -> list[SearchItem]:
    """The k highest-scoring distinct products of both lists, best first."""
    by_sku: dict[str, SearchItem] = {}
    for item in [*first, *more]:
        if item.sku not in by_sku:
            by_sku[item.sku] = item
    return sorted(by_sku.values(), key=lambda item: -(item.score or 0.0))[:k]


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
