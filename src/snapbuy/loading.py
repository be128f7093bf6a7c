"""Open a SearchService for an index: the model comes from the bundle's manifest unless one is given."""

from __future__ import annotations

import logging
from pathlib import Path

from snapbuy.bundle import open_current
from snapbuy.config import Settings
from snapbuy.embed.openclip import load_embedder
from snapbuy.search import SearchService

log = logging.getLogger(__name__)


def open_service(index_root: Path, settings: Settings, model_spec: str | None = None) -> SearchService:
    bundle = open_current(index_root)
    spec = model_spec or settings.model or bundle.manifest.model.spec
    embedder = load_embedder(
        spec, models_dir=settings.models_dir, device=settings.device, allow_download=settings.allow_download
    )
    service = SearchService(embedder, bundle, settings.crop_scales)
    log.info(
        "loaded index %s (%d products) with model %s",
        bundle.manifest.version,
        bundle.manifest.counts.get("products", 0),
        spec,
    )
    return service
