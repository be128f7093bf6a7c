"""/metrics in Prometheus text: request counts and latency by route and status (prometheus-fastapi-
instrumentator), the time each search stage took, and which index and model are served. One registry
per app, so several apps in one process (tests) never share counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator

from snapbuy.bundle import Manifest
from snapbuy.embed.base import Embedder
from snapbuy.search.model_worker import WorkerEmbedder

# Search stages take from under a millisecond (search) to a second or more (a crop grid on a slow CPU).
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServedIndexCollector(Collector):
    """Which index and model are served, read at each scrape: right after a reload, too."""

    def __init__(self, current: Callable[[], Manifest | None]) -> None:
        self.current = current

    def collect(self) -> Iterator[Metric]:
        manifest = self.current()
        if manifest is None:
            return
        info = GaugeMetricFamily(
            "snapbuy_index_info",
            "The index version and model served (value 1).",
            labels=["version", "model", "index_type"],
        )
        info.add_metric(
            [manifest.version, manifest.model.architecture, str(manifest.index.get("type", ""))], 1
        )
        yield info
        yield GaugeMetricFamily(
            "snapbuy_index_products",
            "Products in the served index.",
            value=manifest.counts.get("products", 0),
        )
        yield GaugeMetricFamily(
            "snapbuy_index_vectors", "Vectors in the served index.", value=manifest.counts.get("vectors", 0)
        )


class SearchQueueCollector(Collector):
    """Photo searches running and waiting for a turn (api/limiter.py), read at each scrape."""

    def __init__(self, load: Callable[[], tuple[int, int]]) -> None:
        self.load = load

    def collect(self) -> Iterator[Metric]:
        running, waiting = self.load()
        yield GaugeMetricFamily("snapbuy_searches_running", "Photo searches running now.", value=running)
        yield GaugeMetricFamily(
            "snapbuy_searches_waiting", "Photo searches waiting for a turn (the queue depth).", value=waiting
        )


class ModelWorkerCollector(Collector):
    """How a server's model worker batches (search/model_worker.py): forwards run for photos, the
    images they carried, and model calls waiting. Nothing when the model runs without one."""

    def __init__(self, current: Callable[[], Embedder | None]) -> None:
        self.current = current

    def collect(self) -> Iterator[Metric]:
        embedder = self.current()
        if not isinstance(embedder, WorkerEmbedder):
            return
        worker = embedder.worker
        yield CounterMetricFamily(
            "snapbuy_model_forwards", "Image-tower forwards run for photo searches.", value=worker.batches
        )
        yield CounterMetricFamily(
            "snapbuy_model_images",
            "Images those forwards carried (divided by forwards: the mean batch).",
            value=worker.batched_images,
        )
        yield GaugeMetricFamily(
            "snapbuy_model_queued", "Model calls waiting for the model.", value=worker.queued
        )


class ServerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.stage_seconds = Histogram(
            "snapbuy_search_stage_seconds",
            "Time each stage of a search took (decode, localise, embed, search, ...).",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )

    def observe_timings(self, timings_ms: Mapping[str, float]) -> None:
        for stage, milliseconds in timings_ms.items():
            if stage != "total":
                self.stage_seconds.labels(stage).observe(milliseconds / 1000)


def install_metrics(
    app: FastAPI,
    current: Callable[[], Manifest | None],
    search_load: Callable[[], tuple[int, int]],
    embedder: Callable[[], Embedder | None] = lambda: None,
) -> ServerMetrics:
    """Instrument every route and expose /metrics (left out of the OpenAPI schema); `current` gives the
    manifest of the version being served (None while loading), `search_load` the photo searches
    running and waiting, `embedder` the served model (its worker's batching, when it has one)."""
    registry = CollectorRegistry()
    registry.register(ServedIndexCollector(current))
    registry.register(SearchQueueCollector(search_load))
    registry.register(ModelWorkerCollector(embedder))
    Instrumentator(registry=registry, excluded_handlers=["/metrics"]).instrument(app).expose(
        app, endpoint="/metrics", include_in_schema=False
    )
    return ServerMetrics(registry)
