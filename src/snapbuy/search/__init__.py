"""Search: a query encoder (photo or text -> vector), a catalog searcher (vector -> category, matches,
per-tier lists) and the SearchService façade over both. snapbuy.loading builds them."""

from snapbuy.search.catalog_searcher import CatalogSearcher
from snapbuy.search.framing import FramingSettings
from snapbuy.search.query_encoder import QueryEncoder
from snapbuy.search.results import CatalogAnswer, ScoredProduct, SearchOptions, SearchResult, TierResult
from snapbuy.search.service import SearchService

__all__ = [
    "CatalogAnswer",
    "CatalogSearcher",
    "FramingSettings",
    "QueryEncoder",
    "ScoredProduct",
    "SearchOptions",
    "SearchResult",
    "SearchService",
    "TierResult",
]
