"""What a search is asked (SearchOptions) and what it answers (SearchResult), in catalog terms."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from snapbuy.crops import Box, NormalisedBox, normalised_box
from snapbuy.store import ProductRecord

CATEGORY_SOURCES = ("request", "predicted", "product")
# How the part of the photo that search embedded was chosen: the product localiser's box, a box the
# client sent, the crop of the grid that best matched the catalog, or the whole photo.
BOX_SOURCES = ("localiser", "client", "crop grid", "photo")


@dataclass(frozen=True)
class FoundProduct:
    """Where in the photo (pixels of the photo as search saw it, `photo_size`) the query was taken
    from, and how that place was chosen (one of BOX_SOURCES)."""

    box: Box
    source: str
    photo_size: tuple[int, int]
    score: float | None = None  # the localiser's confidence that a product is there (0-1)

    @property
    def normalised(self) -> NormalisedBox:
        return normalised_box(self.box, self.photo_size)


@dataclass(frozen=True)
class SearchOptions:
    k: int = 4
    category: str | None = None
    min_price: float | None = None  # on the price paid (the sale price where there is one), inclusive
    max_price: float | None = None
    # Out-of-stock products stay in the index but are never returned unless this is set.
    include_out_of_stock: bool = False
    brand: str | None = None  # only this brand's products (case-insensitive), in matches and tiers
    # Only products of these availabilities (catalog.model.AVAILABILITIES); naming out_of_stock
    # includes those products. Empty: every orderable product.
    availability: tuple[str, ...] = ()
    offset: int = 0  # matches start after this many (paging); tier lists are not paged
    # Variants of one design (one item_group_id) count once in every list, by their best-scoring
    # variant, which lists the others; False: every variant on its own.
    collapse: bool = True


def availability_list(text: str | None) -> tuple[str, ...]:
    """'in_stock, preorder' -> ('in_stock', 'preorder'), for SearchOptions.availability; the catalog
    searcher checks the names."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class ScoredProduct(ProductRecord):
    """A catalog product as the store holds it, with its cosine similarity to the query."""

    score: float | None = None
    # With collapsed variants: the other products of this one's variant group, in catalog order (at
    # most catalog_searcher.MAX_LISTED_VARIANTS), and how many others the group has.
    variants: tuple[ProductRecord, ...] = ()
    variant_count: int = 0

    @classmethod
    def of(cls, record: ProductRecord, score: float | None) -> ScoredProduct:
        values = {f.name: getattr(record, f.name) for f in fields(ProductRecord)}
        return cls(**values, score=score)


@dataclass(frozen=True)
class TierResult:
    name: str
    min_price: float | None
    max_price: float | None
    items: list[ScoredProduct]


@dataclass(frozen=True)
class CatalogAnswer:
    """Matches and tier lists for one query vector, as the catalog searcher finds them."""

    category: str
    category_source: str  # one of CATEGORY_SOURCES
    matches: list[ScoredProduct]
    tiers: list[TierResult]


@dataclass(frozen=True)
class ProductAnswer:
    """The answer for one product found in a photo of several."""

    found: FoundProduct
    category: str
    category_source: str
    matches: list[ScoredProduct]
    tiers: list[TierResult]


@dataclass(frozen=True)
class WordsUsed:
    """How a search read the shopper's words: `text` went to the text tower (None when the words only
    named a price); a photo search gave it `text_weight` of the combined query (None for text alone);
    `price_phrases` were read as price bounds, which with the request's own give `min_price` and
    `max_price` (inclusive, on the price paid)."""

    text: str | None
    text_weight: float | None
    price_phrases: tuple[str, ...] = ()
    min_price: float | None = None
    max_price: float | None = None


@dataclass
class SearchResult:
    category: str
    category_source: str  # one of CATEGORY_SOURCES
    matches: list[ScoredProduct]
    tiers: list[TierResult]
    model: str
    index_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    found: FoundProduct | None = None  # a photo search: where in the photo the query came from
    words: WordsUsed | None = None  # how the request's words (q) were read, when it had any
    # A photo search: one answer per product found in the photo, best first; the first is the same
    # as this result's own found, category, matches and tiers.
    groups: list[ProductAnswer] = field(default_factory=list)
