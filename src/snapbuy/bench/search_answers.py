"""One full answer per query vector through the product's own search path (SearchService), as the
`search` suite times and compares them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from snapbuy.bench.search_report import K
from snapbuy.bench.synthetic_bundle import VectorsOnlyEmbedder
from snapbuy.bundle import BundleVersion
from snapbuy.loading import build_service
from snapbuy.search import FramingSettings, SearchOptions, SearchService


@dataclass(frozen=True)
class Answer:
    category: str
    matches: tuple[str, ...]
    tiers: dict[str, tuple[str, ...]]


def answer_of(
    service: SearchService, query: np.ndarray, options: SearchOptions, effort_scale: float = 1.0
) -> Answer:
    result = service.search_vector(query, options, effort_scale=effort_scale)
    return Answer(
        result.category,
        tuple(item.sku for item in result.matches),
        {tier.name: tuple(item.sku for item in tier.items) for tier in result.tiers},
    )


def run_queries(
    service: SearchService, queries: np.ndarray, effort_scale: float = 1.0
) -> tuple[list[Answer], list[float]]:
    options = SearchOptions(k=K)
    answers, latencies = [], []
    for query in queries:
        started = time.perf_counter()
        answers.append(answer_of(service, query, options, effort_scale))
        latencies.append((time.perf_counter() - started) * 1000)
    return answers, latencies


def vectors_only_service(bundle: BundleVersion, model: VectorsOnlyEmbedder) -> SearchService:
    """Search over stored vectors only: queries are vectors, so no photo framing."""
    return build_service(bundle, model, FramingSettings(crop_scales=()))
