"""The search façade the API, CLI, evaluation and benchmarks call: a query encoder (photo or text ->
vector) and a catalog searcher (vector -> matches and tier lists) over one bundle version. Built by
snapbuy.loading; it opens nothing itself."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from PIL import Image

from snapbuy.bundle import BundleVersion
from snapbuy.config import DEFAULT_PRODUCT_MIN_SCORE, DEFAULT_TEXT_WEIGHT
from snapbuy.crops import NormalisedBox, pixel_box
from snapbuy.deadline import Deadline, check
from snapbuy.embed.base import Embedder
from snapbuy.errors import BundleError, InvalidParameterError
from snapbuy.search.catalog_searcher import CatalogSearcher
from snapbuy.search.query_encoder import QueryEncoder, mean_direction
from snapbuy.search.query_words import CHEAPER, ReadWords, read_words
from snapbuy.search.results import (
    CatalogAnswer,
    FoundProduct,
    ProductAnswer,
    ScoredProduct,
    SearchOptions,
    SearchResult,
    WordsUsed,
)
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
        words: str | None = None,
        text_weight: float = DEFAULT_TEXT_WEIGHT,
        max_products: int = 1,
        product_min_score: float = DEFAULT_PRODUCT_MIN_SCORE,
    ) -> SearchResult:
        """Matches and tier lists for a photo, around `box` (shares of the photo's sides) when the
        client knows where the product is; a `deadline` is checked between stages and raises
        DeadlineExceededError once spent.

        With `words` ("in red", "under 500", "cheaper"): price phrases become price bounds
        (query_words), and the rest is embedded by the text tower and given `text_weight` of the
        combined query, which ranks the designs; within each design listed, the words alone pick the
        variant shown (docs/experiments/2026-12-04-photo-and-words.md).

        With `max_products` above 1 and a localiser, each further product it finds with a score of at
        least `product_min_score` gets an answer of its own in `groups` (the first is the result's
        own); the words apply to each."""
        if not 0 <= text_weight <= 1:
            raise InvalidParameterError(f"text_weight must be from 0 to 1, got {text_weight}")
        if max_products < 1:
            raise InvalidParameterError(f"max_products must be at least 1, got {max_products}")
        started = time.perf_counter()
        at = pixel_box(box, image.size) if box is not None else None
        read = read_words(words) if words is not None else None
        products = self.encoder.encode_products(image, deadline, at, max_products, product_min_score)
        text_vector = None
        if read is not None and read.text:
            text_vector = self.encoder.encode_text(read.text, deadline)
        embed_ms = _ms_since(started)
        answers: list[tuple[SearchResult, FoundProduct]] = []
        for vector, found in products:
            check(deadline, "the catalog search")
            query = vector
            if text_vector is not None:
                query = mean_direction(np.stack([(1 - text_weight) * vector, text_weight * text_vector]))
            product_options = _with_price_words(options, read)
            if read is not None and read.relative is not None:
                product_options = self._relative_to_best_match(query, product_options, read.relative)
            answer = self.search_vector(query, product_options, variant_query=text_vector)
            if read is not None:
                answer.words = _words_used(read, text_weight, product_options)
            answers.append((answer, found))
        result, found = answers[0]
        result.found = found
        result.groups = [
            ProductAnswer(found, answer.category, answer.category_source, answer.matches, answer.tiers)
            for answer, found in answers
        ]
        result.timings_ms["search"] = round(sum(answer.timings_ms["search"] for answer, _ in answers), 3)
        result.timings_ms["embed"] = embed_ms
        result.timings_ms["total"] = _ms_since(started)
        return result

    def search_text(
        self, text: str, options: SearchOptions, deadline: Deadline | None = None
    ) -> SearchResult:
        """Matches and tier lists for words alone; price phrases in them become price bounds."""
        read = read_words(text)
        if read.relative is not None:
            raise InvalidParameterError(
                f"{read.relative!r} needs a photo to compare with; name a price instead (e.g. 'under 500')"
            )
        if not read.text:
            raise InvalidParameterError(
                f"text query {text!r} only names a price: add what you are looking for (e.g. 'watch')"
            )
        started = time.perf_counter()
        query = self.encoder.encode_text(read.text, deadline)
        check(deadline, "the catalog search")
        options = _with_price_words(options, read)
        result = self._timed(query, options, started)
        result.words = _words_used(read, None, options)
        return result

    def _relative_to_best_match(
        self, query: np.ndarray, options: SearchOptions, relative: str
    ) -> SearchOptions:
        """Price bounds for 'cheaper' or 'dearer': strictly below or above the price paid of the
        query's best match under the request's other filters (none: the bounds stay)."""
        best = self.catalog.search(query, replace(options, k=1, offset=0)).matches
        if not best:
            return options
        price = best[0].price_paid
        if relative == CHEAPER:
            below = float(np.nextafter(price, -np.inf))
            return replace(
                options, max_price=below if options.max_price is None else min(options.max_price, below)
            )
        above = float(np.nextafter(price, np.inf))
        return replace(
            options, min_price=above if options.min_price is None else max(options.min_price, above)
        )

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
        variant_query: np.ndarray | None = None,
    ) -> SearchResult:
        """Matches and tier lists for one L2-normalised query vector; `variant_query` picks the variant
        shown for each design (CatalogSearcher.search)."""
        started = time.perf_counter()
        answer = self.catalog.search(
            query,
            options,
            exclude_row=exclude_row,
            category_source=category_source,
            effort_scale=effort_scale,
            variant_query=variant_query,
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

    def _timed(
        self,
        query: np.ndarray,
        options: SearchOptions,
        started: float,
        variant_query: np.ndarray | None = None,
    ) -> SearchResult:
        embed_ms = _ms_since(started)
        result = self.search_vector(query, options, variant_query=variant_query)
        result.timings_ms["embed"] = embed_ms
        result.timings_ms["total"] = _ms_since(started)
        return result


def _with_price_words(options: SearchOptions, read: ReadWords | None) -> SearchOptions:
    """The request's price bounds narrowed by those its words named (both hold)."""
    if read is None:
        return options
    low, high = options.min_price, options.max_price
    if read.min_price is not None:
        low = read.min_price if low is None else max(low, read.min_price)
    if read.max_price is not None:
        high = read.max_price if high is None else min(high, read.max_price)
    return replace(options, min_price=low, max_price=high)


def _words_used(read: ReadWords, text_weight: float | None, options: SearchOptions) -> WordsUsed:
    return WordsUsed(
        text=read.text or None,
        text_weight=text_weight if read.text else None,
        price_phrases=read.understood,
        min_price=options.min_price,
        max_price=options.max_price,
    )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
