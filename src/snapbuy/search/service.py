"""The search façade the API, CLI, evaluation and benchmarks call: a query encoder (photo or text ->
vector) and a catalog searcher (vector -> matches and tier lists) over one bundle version. Built by
snapbuy.loading; it opens nothing itself."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from PIL import Image

from snapbuy.bundle import BundleVersion
from snapbuy.crops import NormalisedBox, pixel_box
from snapbuy.deadline import Deadline, check
from snapbuy.embed.base import Embedder
from snapbuy.errors import BundleError
from snapbuy.search.catalog_searcher import CatalogSearcher
from snapbuy.search.query_encoder import QueryEncoder
from snapbuy.search.results import CatalogAnswer, ScoredProduct, SearchOptions, SearchResult
from snapbuy.store import ProductRecord


class SearchService:
    def __init__(self, encoder: QueryEncoder, catalog: CatalogSearcher, bundle: BundleVersion) -> None:
        bundle.check_model(encoder.embedder.identity)
        if catalog.dim != encoder.embedder.dim:
            raise BundleError(
                f"index {bundle.path} is inconsistent: its vectors have dim {catalog.dim}, "
                f"the model's {encoder.embedder.dim}"
            )
        self.encoder = encoder
        self.catalog = catalog
        self.bundle = bundle

    def close(self) -> None:
        self.catalog.close()

    @property
    def embedder(self) -> Embedder:
        return self.encoder.embedder

    @property
    def categories(self) -> tuple[str, ...]:
        return self.catalog.categories

    def search_image(
        self,
        image: Image.Image,
        options: SearchOptions,
        deadline: Deadline | None = None,
        box: NormalisedBox | None = None,
    ) -> SearchResult:
        """Matches and tier lists for a photo, around `box` (shares of the photo's sides) when the
        client knows where the product is; a `deadline` is checked between stages and raises
        DeadlineExceededError once spent."""
        started = time.perf_counter()
        at = pixel_box(box, image.size) if box is not None else None
        query, found = self.encoder.encode_image(image, deadline, at)
        check(deadline, "the catalog search")
        result = self._timed(query, options, started)
        result.found = found
        return result

    def search_text(
        self, text: str, options: SearchOptions, deadline: Deadline | None = None
    ) -> SearchResult:
        started = time.perf_counter()
        query = self.encoder.encode_text(text, deadline)
        check(deadline, "the catalog search")
        return self._timed(query, options, started)

    def similar(self, sku: str, options: SearchOptions) -> SearchResult:
        """Lookalikes of a catalog product (its first image), the product itself left out."""
        record = self.catalog.product(sku)
        started = time.perf_counter()
        query = self.catalog.first_vector_of(record)
        source = "request"
        if options.category is None:
            options = replace(options, category=record.category)
            source = "product"
        result = self.search_vector(query, options, exclude_row=record.row, category_source=source)
        result.timings_ms["total"] = _ms_since(started)
        return result

    def product(self, sku: str) -> ProductRecord:
        return self.catalog.product(sku)

    def product_with_variants(self, sku: str) -> ScoredProduct:
        """The product's record, listing the other products of its variant group."""
        return self.catalog.product_with_variants(sku)

    def search_vector(
        self,
        query: np.ndarray,
        options: SearchOptions,
        *,
        exclude_row: int | None = None,
        category_source: str | None = None,
        effort_scale: float = 1.0,
    ) -> SearchResult:
        """Matches and tier lists for one L2-normalised query vector."""
        started = time.perf_counter()
        answer = self.catalog.search(
            query,
            options,
            exclude_row=exclude_row,
            category_source=category_source,
            effort_scale=effort_scale,
        )
        return self._result(answer, {"search": _ms_since(started)})

    def _result(self, answer: CatalogAnswer, timings_ms: dict[str, float]) -> SearchResult:
        return SearchResult(
            category=answer.category,
            category_source=answer.category_source,
            matches=answer.matches,
            tiers=answer.tiers,
            model=self.embedder.identity.spec,
            index_version=self.bundle.manifest.version,
            timings_ms=timings_ms,
        )

    def _timed(self, query: np.ndarray, options: SearchOptions, started: float) -> SearchResult:
        embed_ms = _ms_since(started)
        result = self.search_vector(query, options)
        result.timings_ms["embed"] = embed_ms
        result.timings_ms["total"] = _ms_since(started)
        return result


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
