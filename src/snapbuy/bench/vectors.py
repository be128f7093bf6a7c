"""Synthetic catalog embeddings for scale benchmarks, shaped like CLIP image embeddings.

Real CLIP image embeddings are not uniform on the sphere: they share a common direction (the "cone"),
cluster by category and, tighter, by design (colour variants of one product look alike), and their
variance is spread unevenly over directions (the covariance spectrum decays; a few hundred of the 512
directions carry little but noise). Uniform noise would make every approximate index look better or worse
than it is, so each vector here is the sum of a shared component, its category's, its design's and its
own, L2-normalised. Design and own components are drawn with variance 1/i along the i-th axis of a
random basis per category (`spectrum="decaying"`: the top 128 of 512 directions hold 80 % of the
variance, a participation ratio of about 28), or isotropically (`spectrum="flat"`, a harder stress case
in which all non-variant neighbours are nearly equidistant). Rows are sorted by (category, tier) as in a
real bundle, so every category and every (category, tier) partition is one contiguous id range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Spectrum = Literal["decaying", "flat"]

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
    spectrum: Spectrum = "decaying",
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
    shapes = [_variation_shape(rng, dim, spectrum) for _ in range(categories)]
    design_category = np.zeros(int(design[-1]) + 1, dtype=np.int64)
    design_category[design] = category
    design_vectors = np.empty((len(design_category), dim), dtype=np.float32)
    for code in range(categories):
        of_category = np.flatnonzero(design_category == code)
        design_vectors[of_category] = _variation(rng, len(of_category), dim, shapes[code])
    vectors = np.empty((n, dim), dtype=np.float32)
    for lo, hi in _chunks_within_categories(sizes):
        block = np.sqrt(OWN) * _variation(rng, hi - lo, dim, shapes[int(category[lo])])
        block += np.sqrt(SHARED) * shared
        block += np.sqrt(CATEGORY) * centroids[category[lo:hi]]
        block += np.sqrt(DESIGN) * design_vectors[design[lo:hi]]
        vectors[lo:hi] = _unit(block)
    return SyntheticCatalog(vectors, category, tier, design)


def _chunks_within_categories(sizes: np.ndarray) -> list[tuple[int, int]]:
    """[lo, hi) row chunks of at most CHUNK_ROWS that never straddle two categories."""
    chunks: list[tuple[int, int]] = []
    start = 0
    for size in map(int, sizes):
        chunks += [(lo, min(start + size, lo + CHUNK_ROWS)) for lo in range(start, start + size, CHUNK_ROWS)]
        start += size
    return chunks


def _variation_shape(rng: np.random.Generator, dim: int, spectrum: Spectrum) -> np.ndarray | None:
    """A [dim, dim] map from unit-variance noise to a component with the wanted covariance spectrum and
    expected squared norm 1; None for the isotropic case."""
    if spectrum == "flat":
        return None
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    variance = 1.0 / np.arange(1, dim + 1)
    shape: np.ndarray = (np.sqrt(variance / variance.sum())[:, None] * basis.T).astype(np.float32)
    return shape


def _variation(rng: np.random.Generator, rows: int, dim: int, shape: np.ndarray | None) -> np.ndarray:
    if shape is None:
        return _direction(rng, rows, dim)
    noise = rng.random((rows, dim), dtype=np.float32)
    noise -= 0.5
    noise *= np.float32(np.sqrt(12.0))  # unit variance per entry
    out: np.ndarray = noise @ shape
    return out


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
