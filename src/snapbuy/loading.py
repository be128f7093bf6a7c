"""Builds a SearchService for an index: decides the device, the vector index (CPU or GPU), the model and
the framing once, up front; nothing in a service is swapped afterwards (a server replaces the whole
service: reopen_service). The model comes from the bundle's manifest unless one is given."""

from __future__ import annotations

import logging
from pathlib import Path

from snapbuy.bundle import BundleVersion, open_current
from snapbuy.config import Settings
from snapbuy.device import resolve_device
from snapbuy.embed.base import Embedder
from snapbuy.embed.openclip import OpenClipEmbedder, load_embedder
from snapbuy.embed.spec import parse_model_spec
from snapbuy.index import VectorIndex, load_vector_index
from snapbuy.index.torch_exact import TorchExactIndex, gpu_topk
from snapbuy.localiser import ProductLocaliser, load_localiser, localiser_for
from snapbuy.search import CatalogSearcher, FramingSettings, QueryEncoder, SearchService
from snapbuy.search.model_worker import ModelWorker, WorkerEmbedder, WorkerLocaliser
from snapbuy.search.query_encoder import Localiser
from snapbuy.store import ProductStore

log = logging.getLogger(__name__)


def settings_embedder(spec: str, settings: Settings) -> OpenClipEmbedder:
    """The model `spec` as the settings load it: their models folder, device, backend and downloads."""
    return load_embedder(
        spec,
        models_dir=settings.models_dir,
        device=resolve_device(settings.device),
        allow_download=settings.allow_download,
        backend=settings.backend,
        graph_cache=settings.graph_cache_dir,
    )


def configured_localiser(spec: str, settings: Settings) -> ProductLocaliser | None:
    """The localiser the settings name (SNAPBUY_LOCALISER), else the one trained with the model's
    checkpoint; none when the settings turn localising off."""
    if not settings.localise:
        return None
    if settings.localiser is not None:
        return load_localiser(settings.localiser)
    return localiser_for(parse_model_spec(spec))


def open_vector_index(bundle: BundleVersion, device: str = "cpu") -> VectorIndex:
    """The bundle's vector index; on a CUDA device, an exact float16 copy of its vectors on the GPU
    instead (faster than the CPU's approximate index, and exact)."""
    index = load_vector_index(bundle.path, bundle.manifest.index)
    if not device.startswith("cuda"):
        return index
    try:
        gpu = TorchExactIndex.from_index(index, device, gpu_topk())
    finally:
        index.close()
    log.info("similarity search runs exactly on %s (float16, top-k by %s)", device, gpu.topk.name)
    return gpu


def open_catalog(bundle: BundleVersion, device: str = "cpu") -> CatalogSearcher:
    """The catalog searcher of a bundle version: its vector index and product store, opened here."""
    index = open_vector_index(bundle, device)
    store = ProductStore(bundle.products_path)
    try:
        columns = store.load_filter_columns()
        return CatalogSearcher(index, store, columns, bundle.manifest.tier_bounds, str(bundle.path))
    except BaseException:
        store.close()
        index.close()
        raise


def build_service(
    bundle: BundleVersion,
    embedder: Embedder,
    framing: FramingSettings | None = None,
    localiser: Localiser | None = None,
    device: str = "cpu",
) -> SearchService:
    """A search service over one bundle version with a loaded model."""
    bundle.check_model(embedder.identity)  # before opening anything large
    built_with, queries_with = bundle.manifest.model.backend, embedder.identity.backend
    if built_with != queries_with:
        # Measured compatible: the float32 backends give the same vectors and int8 weights agree closely
        # (docs/models-and-training.md#backends); said once, so a difference in answers can be traced.
        log.info("index built with the %s backend; queries run on %s", built_with, queries_with)
    catalog = open_catalog(bundle, device)
    try:
        encoder = QueryEncoder(embedder, catalog.best_scores, framing, localiser)
        return SearchService(encoder, catalog, bundle)
    except BaseException:
        catalog.close()
        raise


def configured_service(
    embedder: Embedder, bundle: BundleVersion, settings: Settings, localiser: Localiser | None
) -> SearchService:
    """A search service that frames query photos as the settings say."""
    framing = FramingSettings.from_settings(settings)
    return build_service(bundle, embedder, framing, localiser, resolve_device(settings.device))


def open_service(
    index_root: Path, settings: Settings, model_spec: str | None = None, *, serving: bool = False
) -> SearchService:
    """A search service over the index's live version. `serving`: for a server answering requests
    on many threads, every model call goes through one ModelWorker (search/model_worker.py), which
    batches concurrent searches' photos."""
    bundle = open_current(index_root)
    spec = model_spec or settings.model or bundle.manifest.model.spec
    embedder: Embedder = settings_embedder(spec, settings)
    localiser: Localiser | None = configured_localiser(spec, settings)
    if serving:
        worker = ModelWorker(
            embedder,
            settings.micro_batch_images,
            settings.micro_batch_wait_ms / 1000,
            settings.micro_batch_follow_ms / 1000,
        )
        embedder = WorkerEmbedder(worker)
        localiser = WorkerLocaliser(localiser, worker) if localiser is not None else None
    service = configured_service(embedder, bundle, settings, localiser)
    log.info(
        "loaded index %s (%d products) with model %s",
        bundle.manifest.version,
        bundle.manifest.counts.get("products", 0),
        spec,
    )
    return service


def reopen_service(current: SearchService, index_root: Path, settings: Settings) -> SearchService:
    """A service over the index's live version with `current`'s model and localiser (a version built
    with another model is refused, ModelMismatchError); `current` is left untouched."""
    bundle = open_current(index_root)
    service = configured_service(current.embedder, bundle, settings, current.encoder.localiser)
    log.info("opened index version %s beside %s", bundle.path.name, current.bundle.path.name)
    return service
