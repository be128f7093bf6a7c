"""A real index bundle over synthetic vectors, so the benchmark measures the product's own search path
(SearchService: category vote, matches, per-tier lists, SQLite lookups), not a stand-in for it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from snapbuy.bench.vectors import SyntheticCatalog
from snapbuy.bundle import (
    PRODUCTS_FILE,
    BundleVersion,
    Manifest,
    open_current,
    staged_version,
    write_current,
    write_manifest,
)
from snapbuy.embed.base import ModelIdentity
from snapbuy.index import IndexChoice, build_vector_index
from snapbuy.store import ProductRecord, write_store
from snapbuy.tiers import bounds_from_cuts, tier_index

# Global price cuts: a synthetic tier t is priced inside [cut t-1, cut t), so the bundle's tiers are
# exactly the generator's.
TIER_CUTS = (1000.0, 2000.0)


def bench_model(dim: int, seed: int) -> ModelIdentity:
    return ModelIdentity(
        spec="bench:synthetic-vectors",
        architecture="synthetic-clip-like",
        weights=f"synthetic:seed={seed}",
        dim=dim,
        preprocessing={},
    )


@dataclass(frozen=True)
class VectorsOnlyEmbedder:
    """Stands in for a model in a bundle of synthetic vectors: queries arrive as vectors, never as
    images or text, so asking it to embed anything is a bug."""

    identity: ModelIdentity

    @property
    def dim(self) -> int:
        return self.identity.dim

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        raise NotImplementedError("a synthetic-vector bundle has no image model")

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError("a synthetic-vector bundle has no text model")


def category_name(code: int) -> str:
    return f"category-{code:02d}"


@dataclass(frozen=True)
class BuiltBundle:
    bundle: BundleVersion
    index_seconds: float  # train + add + save of the vector index
    total_seconds: float  # with the product table and manifest
    disk_bytes: int


def write_synthetic_bundle(
    catalog: SyntheticCatalog, root: Path, choice: IndexChoice, seed: int
) -> BuiltBundle:
    started = time.perf_counter()
    bounds = bounds_from_cuts(TIER_CUTS)
    names = [category_name(c) for c in range(int(catalog.category.max()) + 1)]
    # Prices rise inside each tier's band, so rows stay in (category, tier, sku) order as in a bundle.
    lows = np.array([0.0, *TIER_CUTS])[catalog.tier]
    price = lows + 100.0 + (np.arange(catalog.size) % 800)
    records = [
        ProductRecord(
            row=row,
            sku=f"SKU{row:08d}",
            title=f"{names[c]} design {d}",
            brand=None,
            category=names[c],
            price=float(p),
            currency="NOK",
            tier=bounds[tier_index(float(p), bounds)].name,
            item_group_id=f"G{d}",
            link=None,
            image_link=None,
        )
        for row, (c, d, p) in enumerate(
            zip(catalog.category.tolist(), catalog.design.tolist(), price.tolist(), strict=True)
        )
    ]
    model = bench_model(catalog.vectors.shape[1], seed)
    with staged_version(root) as (version, staging):
        index_started = time.perf_counter()
        build_vector_index(catalog.vectors, choice).save(staging)
        index_seconds = time.perf_counter() - index_started
        write_store(staging / PRODUCTS_FILE, records, ((row, row, "") for row in range(catalog.size)))
        write_manifest(
            staging,
            Manifest(
                version=version,
                model=model,
                index=choice.to_manifest(),
                counts={"products": catalog.size, "vectors": catalog.size},
                currency="NOK",
                tier_method="fixed",
                tier_bounds={name: bounds for name in names},
                catalog={"path": "synthetic", "sha256": ""},
            ),
        )
    write_current(root, version)
    bundle = open_current(root)
    disk = sum(p.stat().st_size for p in bundle.path.iterdir() if p.is_file())
    return BuiltBundle(bundle, index_seconds, time.perf_counter() - started, disk)
