"""Synthetic catalog embeddings for scale benchmarks, shaped like CLIP image embeddings.

Real CLIP image embeddings are not uniform on the sphere: they share a common direction, cluster by
category and, tighter, by design (colour variants of one product look alike). Uniform noise would make
every approximate index look better or worse than it is, so each vector here is the sum of a shared
component, its category's, its design's and its own, L2-normalised. Rows are sorted by (category, tier)
as in a real bundle, so every category and every (category, tier) partition is one contiguous id range."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Squared weights of the components (they sum to 1). With near-orthogonal random directions this gives
# cosine ~0.25 between unrelated products, ~0.45 within a category and ~0.8 between colour variants:
# about what CLIP ViT-B-32 shows on product photos.
SHARED, CATEGORY, DESIGN, OWN = 0.25, 0.20, 0.35, 0.20
CHUNK_ROWS = 65_536  # rows built at a time, so 1M x 512 needs no multi-gigabyte temporaries


@dataclass(frozen=True)
class SyntheticCatalog:
    vectors: np.ndarray  # [n, dim] float32, unit rows
    category: np.ndarray  # [n] int16, non-decreasing
    tier: np.ndarray  # [n] int8, non-decreasing within a category
    design: np.ndarray  # [n] int32

    @property
    def size(self) -> int:
        return len(self.vectors)

    def ranges(self) -> dict[tuple[int, int], tuple[int, int]]:
        """(category, tier) -> [start, end) id range."""
        key = self.category.astype(np.int64) * 256 + self.tier
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], len(key)]
        return {
            (int(self.category[s]), int(self.tier[s])): (int(s), int(e))
            for s, e in zip(starts, ends, strict=True)
        }

    def category_range(self, category: int) -> tuple[int, int]:
        start = int(np.searchsorted(self.category, category, side="left"))
        return start, int(np.searchsorted(self.category, category, side="right"))


def category_sizes(n: int, categories: int, smallest_share: float, rng: np.random.Generator) -> np.ndarray:
    """Uneven category sizes summing to n; category 0 holds `smallest_share` of the catalog (the hard case
    for filtered search: a small category split into tiers)."""
    small = max(3, round(n * smallest_share))
    weights = rng.uniform(0.5, 2.0, categories - 1)
    rest = np.floor(weights / weights.sum() * (n - small)).astype(np.int64)
    rest[: (n - small) - int(rest.sum())] += 1
    sizes: np.ndarray = np.r_[small, rest]
    return sizes


def synthetic_catalog(
    n: int,
    *,
    dim: int = 512,
    categories: int = 20,
    tiers: int = 3,
    variants: int = 3,
    smallest_share: float = 0.01,
    seed: int = 0,
) -> SyntheticCatalog:
    """n CLIP-like unit vectors in `categories` categories of designs with `variants` SKUs each."""
    if n < categories * tiers:
        raise ValueError(f"need at least {categories * tiers} vectors for {categories} x {tiers} partitions")
    rng = np.random.default_rng(seed)
    sizes = category_sizes(n, categories, smallest_share, rng)
    category = np.repeat(np.arange(categories, dtype=np.int16), sizes)
    # Designs are consecutive runs of `variants` rows inside a category; a design has one tier.
    starts_of_category = np.r_[0, np.cumsum(sizes)[:-1]]
    position = np.arange(n) - np.repeat(starts_of_category, sizes)
    design = (np.repeat(np.arange(categories) * (n // variants + 1), sizes) + position // variants).astype(
        np.int32
    )
    # Tiers split each category into thirds (the tertile rule), in id order.
    tier = np.minimum(position * tiers // np.repeat(sizes, sizes), tiers - 1).astype(np.int8)
    _, design = np.unique(design, return_inverse=True)
    design = design.astype(np.int32)

    shared = _direction(rng, 1, dim)[0]
    centroids = _direction(rng, categories, dim)
    vectors = np.empty((n, dim), dtype=np.float32)
    design_vectors = _direction(rng, int(design[-1]) + 1, dim)
    for lo in range(0, n, CHUNK_ROWS):
        hi = min(n, lo + CHUNK_ROWS)
        own = _direction(rng, hi - lo, dim)
        block = np.sqrt(OWN) * own
        block += np.sqrt(SHARED) * shared
        block += np.sqrt(CATEGORY) * centroids[category[lo:hi]]
        block += np.sqrt(DESIGN) * design_vectors[design[lo:hi]]
        vectors[lo:hi] = _unit(block)
    return SyntheticCatalog(vectors, category, tier, design)


def synthetic_queries(
    catalog: SyntheticCatalog, rows: np.ndarray, *, similarity: float = 0.8, seed: int = 1
) -> np.ndarray:
    """A query vector near each of the given catalog rows, at cosine about `similarity` to it: a shopper
    photo is close to, not equal to, the catalog shot."""
    rng = np.random.default_rng(seed)
    noise = _direction(rng, len(rows), catalog.vectors.shape[1])
    return _unit(similarity * catalog.vectors[rows] + np.sqrt(1 - similarity**2) * noise)


def _direction(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    """Random unit vectors. Centred uniform entries instead of Gaussian ones: in 512 dimensions both give
    near-orthogonal directions, and uniform draws are four times faster (1M rows in seconds)."""
    x = rng.random((rows, dim), dtype=np.float32)
    x -= 0.5
    return _unit(x)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: np.ndarray = (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out
