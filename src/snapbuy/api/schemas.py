"""Response schemas: the HTTP contract, kept separate from storage records."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from snapbuy.search import SearchResult, TierResult
from snapbuy.search.results import FoundProduct, ProductAnswer


class VariantOut(BaseModel):
    """Another product of a listed product's variant group (same item_group_id: another colour or
    size of one design), read by attribute from its store record."""

    model_config = ConfigDict(from_attributes=True)

    sku: str
    title: str
    price_paid: float
    currency: str
    availability: str
    link: str | None
    image_link: str | None


class ItemOut(BaseModel):
    """A product as the store records it (snapbuy.store.ProductRecord, or its scored form in results),
    read by attribute: one record type from the store to the wire."""

    model_config = ConfigDict(from_attributes=True)

    sku: str
    title: str
    brand: str | None
    category: str
    price: float  # the regular price
    price_paid: float  # what the shopper pays: sale_price when there is one, else price
    sale_price: float | None  # null when no sale was on when the index was built
    sale_price_effective_date: str | None  # the sale's window as the feed gave it ('start/end'), or null
    currency: str
    availability: str  # in_stock, out_of_stock, preorder or backorder
    tier: str  # the price tier of price_paid
    item_group_id: str | None
    link: str | None  # the product page
    image_link: str | None  # the feed's link of the first image, as written
    score: float | None = None
    # With collapsed variants (the default): the other products of this one's variant group, at most
    # 24 of them, and how many others it has.
    variants: list[VariantOut] = []
    variant_count: int = 0

    @field_validator("score")
    @classmethod
    def _rounded(cls, score: float | None) -> float | None:
        return None if score is None else round(score, 6)


class TierOut(BaseModel):
    name: str
    min_price: float | None  # inclusive; null = no lower bound
    max_price: float | None  # exclusive; null = no upper bound
    items: list[ItemOut]


class BoxOut(BaseModel):
    """A place in the upright photo as shares of its width and height (0 to 1), so a client draws it
    over the photo at any size."""

    x0: float
    y0: float
    x1: float
    y1: float


class WordsOut(BaseModel):
    """How the request's words (q) were read, from snapbuy.search.results.WordsUsed."""

    model_config = ConfigDict(from_attributes=True)

    text: str | None  # what the text tower read; null when the words only named a price
    text_weight: float | None  # its share of a photo + words query; null for words alone
    price_phrases: list[str]  # the phrases read as price bounds, as written
    min_price: float | None  # the bounds searched: the request's and the words', both holding
    max_price: float | None


class QueryOut(BaseModel):
    category: str
    category_source: str  # "request", "predicted" or "product"
    # A photo search: where in the photo the product was taken from, and how that was chosen:
    # "localiser", "client" (the request's box), "crop grid" or "photo" (all of it). Null for text.
    box: BoxOut | None = None
    box_source: str | None = None
    words: WordsOut | None = None  # null when the request had no words

    @classmethod
    def of(cls, result: SearchResult) -> QueryOut:
        found = result.found
        words = None if result.words is None else WordsOut.model_validate(result.words)
        if found is None:
            return cls(category=result.category, category_source=result.category_source, words=words)
        return cls(
            category=result.category,
            category_source=result.category_source,
            box=_box_out(found),
            box_source=found.source,
            words=words,
        )


def _tiers_out(tiers: list[TierResult]) -> list[TierOut]:
    return [
        TierOut(
            name=t.name,
            min_price=t.min_price,
            max_price=t.max_price,
            items=[ItemOut.model_validate(i) for i in t.items],
        )
        for t in tiers
    ]


def _box_out(found: FoundProduct) -> BoxOut:
    x0, y0, x1, y1 = (round(v, 4) for v in found.normalised)
    return BoxOut(x0=x0, y0=y0, x1=x1, y1=y1)


class GroupOut(BaseModel):
    """The answer for one product found in the photo (answers list one per product, best first)."""

    box: BoxOut
    box_source: str
    score: float | None  # the localiser's confidence that a product is there (0-1); null: not the localiser's
    category: str
    category_source: str
    matches: list[ItemOut]
    tiers: list[TierOut]

    @classmethod
    def of(cls, group: ProductAnswer) -> GroupOut:
        score = group.found.score
        return cls(
            box=_box_out(group.found),
            box_source=group.found.source,
            score=None if score is None else round(score, 4),
            category=group.category,
            category_source=group.category_source,
            matches=[ItemOut.model_validate(m) for m in group.matches],
            tiers=_tiers_out(group.tiers),
        )


class SearchResponse(BaseModel):
    query: QueryOut
    matches: list[ItemOut]
    tiers: list[TierOut]
    # A photo search: one answer per product found in the photo, best first (the first is the
    # top-level query box, category, matches and tiers); empty for other searches.
    groups: list[GroupOut] = []
    model: str
    index_version: str
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, result: SearchResult) -> SearchResponse:
        return cls(
            query=QueryOut.of(result),
            matches=[ItemOut.model_validate(m) for m in result.matches],
            tiers=_tiers_out(result.tiers),
            groups=[GroupOut.of(group) for group in result.groups],
            model=result.model,
            index_version=result.index_version,
            timings_ms=result.timings_ms,
        )


class IndexSummary(BaseModel):
    version: str
    created_at: str
    snapbuy_version: str
    model: dict[str, Any]
    embedding_dim: int
    index: dict[str, Any]
    counts: dict[str, int]
    currency: str
    categories: list[str]
    tiers: dict[str, Any]
    last_reload_error: str | None = None  # why a newer published version is not served


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class HealthResponse(BaseModel):
    status: str
    detail: str | None = None


class ReadyResponse(HealthResponse):
    version: str | None = None  # the index version served
    last_reload_error: str | None = None  # why a newer published version is not served


class ReloadResponse(BaseModel):
    version: str  # the index version served after the reload
    reloaded: bool  # a new version was swapped in
    last_reload_error: str | None = None
