"""Open a SearchService for an index: the model comes from the bundle's manifest unless one is given."""

from __future__ import annotations

import logging
from pathlib import Path

from snapbuy.bundle import BundleVersion, open_current
from snapbuy.config import Settings
from snapbuy.device import resolve_device
from snapbuy.embed.base import Embedder
from snapbuy.embed.openclip import load_embedder
from snapbuy.embed.spec import parse_model_spec
from snapbuy.index.torch_exact import TorchExactIndex, gpu_topk
from snapbuy.localiser import ProductLocaliser, localiser_for
from snapbuy.search import SearchService

log = logging.getLogger(__name__)


def configured_localiser(spec: str, settings: Settings) -> ProductLocaliser | None:
    """The model's product localiser, unless the settings turn localising off."""
    return localiser_for(parse_model_spec(spec)) if settings.localise else None


def configured_service(
    embedder: Embedder, bundle: BundleVersion, settings: Settings, localiser: ProductLocaliser | None
) -> SearchService:
    """A search service that frames query photos as the settings say."""
    return SearchService(
        embedder,
        bundle,
        settings.crop_scales,
        localiser,
        box_margins=settings.box_margins,
        mirror_views=settings.mirror_views,
        box_shift=settings.box_shift,
        framing_temperature=settings.framing_temperature,
    )


def open_service(index_root: Path, settings: Settings, model_spec: str | None = None) -> SearchService:
    bundle = open_current(index_root)
    spec = model_spec or settings.model or bundle.manifest.model.spec
    device = resolve_device(settings.device)
    embedder = load_embedder(
        spec, models_dir=settings.models_dir, device=device, allow_download=settings.allow_download
    )
    service = configured_service(embedder, bundle, settings, configured_localiser(spec, settings))
    if device.startswith("cuda"):
        # Exact search on the GPU: a faster answer than the CPU's approximate index, and exact.
        cpu_index = service.index
        service.index = TorchExactIndex.from_index(cpu_index, device, gpu_topk())
        cpu_index.close()
        log.info(
            "similarity search runs exactly on %s (float16, top-k by %s)", device, service.index.topk.name
        )
    log.info(
        "loaded index %s (%d products) with model %s",
        bundle.manifest.version,
        bundle.manifest.counts.get("products", 0),
        spec,
    )
    return service
