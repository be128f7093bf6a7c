"""SearchService semantics: with the exact index, matches and tier lists equal numpy brute force."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from snapbuy.bundle import open_current
from snapbuy.crops import (
    DEFAULT_BOX_MARGINS,
    DEFAULT_BOX_SHIFT,
    box_framings,
    box_views,
    crop_with_edges,
    square_around,
)
from snapbuy.embed.base import ModelIdentity
from snapbuy.errors import ConfigError, InvalidParameterError, ModelMismatchError, NotFoundError
from snapbuy.indexing import IndexingOptions, build_index
from snapbuy.search import SearchItem, SearchOptions, SearchResult, SearchService

DIM = 16
CATEGORIES = ["watch", "sneaker", "mug", "lamp", "bag"]


class HashEmbedder:
    """Deterministic, well-separated vectors from image pixels: no near-ties, so rankings are exact."""

    identity = ModelIdentity("fake:hash", "fake", "hash", DIM, {})
    dim = DIM

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        for image in images:
            seed = int.from_bytes(hashlib.sha256(image.tobytes()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(DIM)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_images([Image.new("RGB", (4, 4), (len(t) % 256, 0, 0)) for t in texts])


@pytest.fixture(scope="module")
def synthetic_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """240 products in 5 categories; every 7th product has a second image."""
    folder = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(7)
    rows = []
    for i in range(240):
        links = []
        for j in range(2 if i % 7 == 0 else 1):
            name = f"p{i}-{j}.png"
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(folder / name)
            links.append(name)
        rows.append(
            {
                "id": f"SKU{i:03d}",
                "title": f"product {i}",
                "price": f"{rng.uniform(50, 5000):.2f} NOK",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "image_link": links[0],
                "additional_image_link": ",".join(links[1:]),
            }
        )
    catalog = folder / "catalog.csv"
    with catalog.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    root = folder / "index"
    build_index(catalog, root, HashEmbedder(), IndexingOptions(batch_size=64))
    return root


@pytest.fixture(scope="module")
def service(synthetic_index: Path) -> SearchService:
    return SearchService.open(synthetic_index, HashEmbedder())


def brute_force(
    service: SearchService, query: np.ndarray, k: int, allowed_rows: np.ndarray
) -> list[tuple[int, float]]:
    """Top-k (product row, score) by each product's best vector, over allowed product rows."""
    cols = service.columns
    vectors = service.index.reconstruct(list(range(service.index.ntotal)))
    vector_scores = vectors @ query
    best = np.full(len(cols.price), -np.inf)
    np.maximum.at(best, cols.vector_product, vector_scores)
    best[~allowed_rows] = -np.inf
    order = np.argsort(-best, kind="stable")[:k]
    return [(int(r), float(best[r])) for r in order if np.isfinite(best[r])]


def row_of(service: SearchService, sku: str) -> int:
    return service.product_record(sku).row


def assert_equal_to_brute_force(
    service: SearchService,
    result: SearchResult,
    query: np.ndarray,
    options: SearchOptions,
    exclude: int | None = None,
) -> None:
    cols = service.columns
    price_ok = np.ones(len(cols.price), bool)
    if options.min_price is not None:
        price_ok &= cols.price >= options.min_price
    if options.max_price is not None:
        price_ok &= cols.price <= options.max_price
    if exclude is not None:
        price_ok[exclude] = False
    category_ok = np.ones(len(cols.price), bool)
    if options.category is not None:
        category_ok = cols.category_code == cols.categories.index(options.category)

    def check(items: list[SearchItem], allowed: np.ndarray) -> None:
        expected = brute_force(service, query, options.k, allowed)
        assert [row_of(service, i.sku) for i in items] == [r for r, _ in expected]
        scores = np.array([i.score for i in items], dtype=np.float64)  # a missing score is NaN: fails
        np.testing.assert_allclose(scores, np.array([s for _, s in expected]), atol=1e-5)

    check(result.matches, price_ok & category_ok)
    in_category = cols.category_code == cols.categories.index(result.category)
    bounds = service.bundle.manifest.tier_bounds[result.category]
    assert [t.name for t in result.tiers] == [b.name for b in bounds]
    for tier, bound in zip(result.tiers, bounds, strict=True):
        in_tier = np.array([bound.contains(p) for p in cols.price])
        check(tier.items, price_ok & in_category & in_tier)
        assert all(i.category == result.category and bound.contains(i.price) for i in tier.items)


def random_query(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize(
    "options",
    [
        SearchOptions(k=4),
        SearchOptions(k=1),
        SearchOptions(k=10, category="mug"),
        SearchOptions(k=5, min_price=1000),
        SearchOptions(k=5, max_price=800),
        SearchOptions(k=6, category="lamp", min_price=300, max_price=3000),
        SearchOptions(k=100),  # more than some tiers hold
    ],
)
def test_results_equal_brute_force(service: SearchService, options: SearchOptions) -> None:
    for seed in range(5):
        query = random_query(seed)
        result = service.search_vector(query, options)
        assert_equal_to_brute_force(service, result, query, options)
        assert result.category_source == ("request" if options.category else "predicted")


def test_catalog_image_finds_itself_first(service: SearchService, synthetic_index: Path) -> None:
    image = Image.open(synthetic_index.parent / "p3-0.png").convert("RGB")
    result = service.search_image(image, SearchOptions(k=3))
    assert result.matches[0].sku == "SKU003"
    assert result.matches[0].score == pytest.approx(1.0, abs=1e-5)
    assert result.category == CATEGORIES[3]  # SKU003's own category wins the vote
    assert {"embed", "search", "total"} <= set(result.timings_ms)


def test_similar_leaves_the_product_out(service: SearchService) -> None:
    options = SearchOptions(k=5)
    result = service.similar("SKU007", options)
    record = service.product_record("SKU007")
    assert result.category == record.category and result.category_source == "product"
    every = [i.sku for i in result.matches] + [i.sku for t in result.tiers for i in t.items]
    assert "SKU007" not in every
    query = service.index.reconstruct(service.store.vector_ids_of(record.row)[:1])[0]
    expected_options = SearchOptions(k=5, category=record.category)
    assert_equal_to_brute_force(service, result, query, expected_options, exclude=record.row)


def test_category_vote_is_score_weighted(service: SearchService) -> None:
    product = service.product_record("SKU010")
    query = service.index.reconstruct(service.store.vector_ids_of(product.row)[:1])[0]
    assert service.search_vector(query, SearchOptions(k=2)).category == product.category


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (SearchOptions(k=0), "k must be"),
        (SearchOptions(category="spaceship"), "unknown category"),
        (SearchOptions(min_price=-1), "negative"),
        (SearchOptions(min_price=500, max_price=100), "greater than"),
    ],
)
def test_bad_options_are_rejected(service: SearchService, options: SearchOptions, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        service.search_vector(random_query(0), options)


def test_unknown_sku_is_not_found(service: SearchService) -> None:
    with pytest.raises(NotFoundError):
        service.product("NOPE")
    with pytest.raises(NotFoundError):
        service.similar("NOPE", SearchOptions())


def test_text_search_uses_the_text_tower(service: SearchService) -> None:
    result = service.search_text("red watch", SearchOptions(k=2))
    assert len(result.matches) == 2
    with pytest.raises(InvalidParameterError):
        service.search_text("   ", SearchOptions())


def test_an_index_is_refused_by_another_model(synthetic_index: Path, tiny_embedder: object) -> None:
    with pytest.raises(ModelMismatchError, match="was built with model 'fake:hash'"):
        SearchService.open(synthetic_index, tiny_embedder)  # type: ignore[arg-type]


def test_similar_with_a_requested_category_says_so(service: SearchService) -> None:
    other = next(c for c in CATEGORIES if c != service.product_record("SKU007").category)
    result = service.similar("SKU007", SearchOptions(k=3, category=other))
    assert (result.category, result.category_source) == (other, "request")
    assert all(i.category == other for i in result.matches)


class FixedLocaliser:
    """Finds the product at a fixed box, or nowhere."""

    def __init__(self, box: tuple[int, int, int, int] | None) -> None:
        self.box = box

    def find(self, image: Image.Image) -> tuple[int, int, int, int] | None:
        return self.box


def localised(
    index: Path, embedder: HashEmbedder, box: tuple[int, int, int, int], **framing: Any
) -> SearchService:
    """A search service whose localiser always finds `box`, framing it as `framing` says."""
    return SearchService(embedder, open_current(index), localiser=FixedLocaliser(box), **framing)  # type: ignore[arg-type]


def test_localiser_crops_replace_the_crop_grid(synthetic_index: Path) -> None:
    photo = Image.fromarray(np.random.default_rng(3).integers(0, 256, (120, 90, 3), dtype=np.uint8))
    embedder = HashEmbedder()
    found = localised(synthetic_index, embedder, (10, 20, 60, 70), framing_temperature=0)
    # Temperature 0: the unit mean of every framing's own unit mean (the square and its mirror image).
    framings = box_framings(DEFAULT_BOX_MARGINS, DEFAULT_BOX_SHIFT)
    views = embedder.embed_images(box_views(photo, (10, 20, 60, 70), framings, mirror=True))
    assert len(views) == 2 * len(framings) == 2 * (len(DEFAULT_BOX_MARGINS) + 4)
    pairs = views[: len(framings)] + views[len(framings) :]
    pairs /= np.linalg.norm(pairs, axis=1, keepdims=True)
    expected = pairs.mean(axis=0) / np.linalg.norm(pairs.mean(axis=0))
    np.testing.assert_allclose(found.embed_image(photo), expected, rtol=1e-5, atol=1e-6)
    assert found.search_image(photo, SearchOptions(k=3)).product_box == (10, 20, 60, 70)
    # Nothing found: the crop grid decides, exactly as without a localiser.
    found.localiser = FixedLocaliser(None)  # type: ignore[assignment]
    grid = SearchService.open(synthetic_index, embedder)
    np.testing.assert_array_equal(found.embed_image(photo), grid.embed_image(photo))
    assert found.search_image(photo, SearchOptions(k=3)).product_box is None
    found.close()
    grid.close()


def test_the_framing_that_matches_the_catalog_best_outweighs_the_others(synthetic_index: Path) -> None:
    # The catalog image of SKU003 pasted into a noisy photo: the square of margin 1.0 around its box
    # is exactly that image (a perfect match); the other framings show mostly noise.
    product = np.asarray(Image.open(synthetic_index.parent / "p3-0.png").convert("RGB"))
    pixels = np.random.default_rng(5).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    pixels[17:23, 17:23] = product
    photo = Image.fromarray(pixels)
    embedder = HashEmbedder()
    catalog_vector = embedder.embed_images([Image.fromarray(product)])[0]
    framing = {"box_margins": (1.0, 1.6, 1.9), "mirror_views": False}
    weighted = localised(synthetic_index, embedder, (17, 17, 23, 23), **framing)
    plain = localised(synthetic_index, embedder, (17, 17, 23, 23), framing_temperature=0, **framing)
    assert float(weighted.embed_image(photo) @ catalog_vector) > 0.99
    assert weighted.search_image(photo, SearchOptions(k=1)).matches[0].sku == "SKU003"
    # Weighed alike, the noisy framings pull the query well away from the product.
    assert float(plain.embed_image(photo) @ catalog_vector) < 0.6
    weighted.close()
    plain.close()


def test_one_margin_without_shifts_or_mirror_embeds_the_one_square(synthetic_index: Path) -> None:
    photo = Image.fromarray(np.random.default_rng(4).integers(0, 256, (120, 90, 3), dtype=np.uint8))
    embedder = HashEmbedder()
    single = localised(
        synthetic_index, embedder, (5, 5, 45, 65), box_margins=(1.1,), mirror_views=False, box_shift=0
    )
    np.testing.assert_allclose(
        single.embed_image(photo),
        embedder.embed_images([crop_with_edges(photo, square_around((5, 5, 45, 65), 1.1))])[0],
        rtol=1e-5,
        atol=1e-6,
    )
    single.close()


class SizeRecordingEmbedder(HashEmbedder):
    """A model with a 12-pixel input that notes the size of every image it is given."""

    identity = ModelIdentity("fake:hash", "fake", "hash", DIM, {"image_size": [12, 12]})

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.sizes += [image.size for image in images]
        return super().embed_images(images)


def test_views_reach_the_model_shrunk_to_about_twice_its_input_side(synthetic_index: Path) -> None:
    photo = Image.fromarray(np.random.default_rng(6).integers(0, 256, (400, 300, 3), dtype=np.uint8))
    embedder = SizeRecordingEmbedder()
    service = localised(synthetic_index, embedder, (50, 60, 250, 300))
    service.embed_image(photo)
    assert len(embedder.sizes) == 2 * (len(DEFAULT_BOX_MARGINS) + 4)
    assert all(24 <= width < 48 and width == height for width, height in embedder.sizes)
    service.close()


@pytest.mark.parametrize("margins", [(), (1.0, 0.0), (-1.1,)])
def test_box_margins_must_be_positive(synthetic_index: Path, margins: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match="box margins"):
        SearchService(HashEmbedder(), open_current(synthetic_index), box_margins=margins)


@pytest.mark.parametrize("shift, temperature", [(-0.1, 0.03), (0.1, -0.01)])
def test_box_shift_and_framing_temperature_must_not_be_negative(
    synthetic_index: Path, shift: float, temperature: float
) -> None:
    with pytest.raises(ConfigError, match="must not be negative"):
        SearchService(
            HashEmbedder(), open_current(synthetic_index), box_shift=shift, framing_temperature=temperature
        )
