"""QueryEncoder: the localiser's box framed and weighted by catalog match, else the crop grid."""

from __future__ import annotations

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
    DEFAULT_MIRROR_VIEWS,
    box_framings,
    box_views,
    crop_boxes,
    crop_with_edges,
    query_crops,
    square_around,
)
from snapbuy.embed.base import ModelIdentity
from snapbuy.errors import ConfigError
from snapbuy.loading import build_service
from snapbuy.search import FramingSettings, QueryEncoder, SearchOptions, SearchService
from tests.fakes import DIM, HashEmbedder
from tests.search.conftest import grid_service


class FixedLocaliser:
    """Finds the product at a fixed box, or nowhere."""

    def __init__(self, box: tuple[int, int, int, int] | None) -> None:
        self.box = box

    def find_all(self, image: Image.Image) -> list[tuple[tuple[int, int, int, int], float]]:
        return [] if self.box is None else [(self.box, 0.9)]


def localised(
    index: Path, embedder: HashEmbedder, box: tuple[int, int, int, int] | None, **framing: Any
) -> SearchService:
    """A search service whose localiser always finds `box`, framing it as `framing` says."""
    localiser: Any = FixedLocaliser(box)
    return build_service(open_current(index), embedder, FramingSettings.of(**framing), localiser)


def embed(service: SearchService, photo: Image.Image) -> np.ndarray:
    return service.encoder.encode_image(photo)[0]


def test_localiser_crops_replace_the_crop_grid(synthetic_index: Path) -> None:
    photo = Image.fromarray(np.random.default_rng(3).integers(0, 256, (120, 90, 3), dtype=np.uint8))
    embedder = HashEmbedder()
    margins, shift = (0.85, 1.1, 1.4), 0.1
    found = localised(
        synthetic_index,
        embedder,
        (10, 20, 60, 70),
        framing_temperature=0,
        box_margins=margins,
        box_shift=shift,
        mirror_views=True,
    )
    # Temperature 0: the unit mean of every framing's own unit mean (the square and its mirror image).
    framings = box_framings(margins, shift)
    views = embedder.embed_images(box_views(photo, (10, 20, 60, 70), framings, mirror=True))
    assert len(views) == 2 * len(framings) == 2 * (len(margins) + 4)
    pairs = views[: len(framings)] + views[len(framings) :]
    pairs /= np.linalg.norm(pairs, axis=1, keepdims=True)
    expected = pairs.mean(axis=0) / np.linalg.norm(pairs.mean(axis=0))
    np.testing.assert_allclose(embed(found, photo), expected, rtol=1e-5, atol=1e-6)
    located = found.search_image(photo, SearchOptions(k=3)).found
    assert located is not None and (located.box, located.source) == ((10, 20, 60, 70), "localiser")
    # Nothing found: the crop grid decides, exactly as without a localiser.
    found = localised(synthetic_index, embedder, None, framing_temperature=0)
    grid = grid_service(synthetic_index, embedder)
    np.testing.assert_array_equal(embed(found, photo), embed(grid, photo))
    fallback = found.search_image(photo, SearchOptions(k=3)).found
    assert fallback is not None and fallback.source in ("crop grid", "photo")
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
    framing = {"box_margins": (1.0, 1.6, 1.9), "box_shift": 0.1, "mirror_views": False}
    weighted = localised(synthetic_index, embedder, (17, 17, 23, 23), **framing)
    plain = localised(synthetic_index, embedder, (17, 17, 23, 23), framing_temperature=0, **framing)
    assert float(embed(weighted, photo) @ catalog_vector) > 0.99
    assert weighted.search_image(photo, SearchOptions(k=1)).matches[0].sku == "SKU003"
    # Weighed alike, the noisy framings pull the query well away from the product.
    assert float(embed(plain, photo) @ catalog_vector) < 0.6
    weighted.close()
    plain.close()


def test_one_margin_without_shifts_or_mirror_embeds_the_one_square(synthetic_index: Path) -> None:
    photo = Image.fromarray(np.random.default_rng(4).integers(0, 256, (120, 90, 3), dtype=np.uint8))
    embedder = HashEmbedder()
    single = localised(
        synthetic_index, embedder, (5, 5, 45, 65), box_margins=(1.1,), mirror_views=False, box_shift=0
    )
    np.testing.assert_allclose(
        embed(single, photo),
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
    embed(service, photo)
    framings = box_framings(DEFAULT_BOX_MARGINS, DEFAULT_BOX_SHIFT)
    assert len(embedder.sizes) == len(framings) * (2 if DEFAULT_MIRROR_VIEWS else 1)
    assert all(24 <= width < 48 and width == height for width, height in embedder.sizes)
    service.close()


def test_the_encoder_needs_only_a_best_score_callable() -> None:
    # No index at all: the grid crop whose best catalog score is highest becomes the query.
    embedder = HashEmbedder()
    photo = Image.fromarray(np.random.default_rng(8).integers(0, 256, (60, 40, 3), dtype=np.uint8))
    candidates = embedder.embed_images(query_crops(photo, (0.5,)))
    favourite = 2
    encoder = QueryEncoder(
        embedder,
        lambda rows: np.array([1.0 if np.allclose(r, candidates[favourite]) else 0.0 for r in rows]),
        FramingSettings.of(crop_scales=(0.5,)),
    )
    vector, found = encoder.encode_image(photo)
    np.testing.assert_array_equal(vector, candidates[favourite])
    # The grid crop that won, in the photo's pixels: query_crops puts the whole photo first.
    assert found.source == "crop grid" and found.box == crop_boxes(photo.size, (0.5,))[favourite - 1]
    assert found.photo_size == (40, 60)


def test_a_photo_alone_is_found_as_the_whole_photo() -> None:
    embedder = HashEmbedder()
    photo = Image.fromarray(np.random.default_rng(9).integers(0, 256, (30, 50, 3), dtype=np.uint8))
    encoder = QueryEncoder(embedder, lambda rows: np.zeros(len(rows)), FramingSettings.of(crop_scales=()))
    vector, found = encoder.encode_image(photo)
    np.testing.assert_array_equal(vector, embedder.embed_images([photo])[0])
    assert (found.box, found.source, found.normalised) == ((0, 0, 50, 30), "photo", (0.0, 0.0, 1.0, 1.0))


def test_a_clients_box_is_framed_and_the_localiser_is_not_asked(synthetic_index: Path) -> None:
    photo = Image.fromarray(np.random.default_rng(10).integers(0, 256, (200, 100, 3), dtype=np.uint8))
    embedder = HashEmbedder()
    service = localised(synthetic_index, embedder, (0, 0, 10, 10), box_margins=(1.1,), box_shift=0)
    asked: list[Image.Image] = []
    localiser: Any = service.encoder.localiser
    localiser.find = lambda image: asked.append(image)  # would find nothing, and is never asked
    result = service.search_image(photo, SearchOptions(k=3), box=(0.2, 0.25, 0.6, 0.75))
    assert not asked
    assert result.found is not None and result.found.source == "client"
    assert result.found.box == (20, 50, 60, 150) and result.found.normalised == (0.2, 0.25, 0.6, 0.75)
    framed = service.encoder.encode_image(photo, box=(20, 50, 60, 150))[0]
    expected = embedder.embed_images(box_views(photo, (20, 50, 60, 150), box_framings((1.1,), 0), False))[0]
    np.testing.assert_allclose(framed, expected / np.linalg.norm(expected), rtol=1e-5, atol=1e-6)
    service.close()


class SeveralLocaliser:
    """Finds fixed boxes with fixed scores, best first."""

    def __init__(self, found: list[tuple[tuple[int, int, int, int], float]]) -> None:
        self.found = found

    def find_all(self, image: Image.Image) -> list[tuple[tuple[int, int, int, int], float]]:
        return self.found


def test_each_product_found_is_embedded_in_one_model_call(
    synthetic_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = Image.fromarray(np.random.default_rng(6).integers(0, 256, (120, 90, 3), dtype=np.uint8))
    embedder = HashEmbedder()
    boxes = [((10, 10, 50, 50), 0.9), ((50, 60, 85, 110), 0.6), ((0, 70, 30, 100), 0.3)]
    localiser: Any = SeveralLocaliser(boxes)
    service = build_service(open_current(synthetic_index), embedder, FramingSettings(), localiser)
    single: Any = SeveralLocaliser(boxes[1:2])
    alone = build_service(open_current(synthetic_index), embedder, FramingSettings(), single)
    calls: list[int] = []
    embed_images = embedder.embed_images

    def counted(images: Any) -> np.ndarray:
        calls.append(len(images))
        return embed_images(images)

    monkeypatch.setattr(embedder, "embed_images", counted)

    encoder = service.encoder
    assert [f.box for _, f in encoder.encode_products(photo, max_products=3, min_score=0.5)] == [
        boxes[0][0],
        boxes[1][0],
    ]
    assert len(calls) == 1  # both products' views in one call
    products = encoder.encode_products(photo, max_products=3, min_score=0.0)
    assert [(f.box, f.score, f.source) for _, f in products] == [(b, s, "localiser") for b, s in boxes]
    assert len(encoder.encode_products(photo, max_products=2, min_score=0.0)) == 2
    # The best product is answered even below min_score; one product: encode_image's answer.
    assert len(encoder.encode_products(photo, max_products=3, min_score=0.95)) == 1
    np.testing.assert_allclose(encoder.encode_products(photo)[0][0], encoder.encode_image(photo)[0])
    # Each product's vector is what a photo of that product alone gives.
    np.testing.assert_allclose(products[1][0], alone.encoder.encode_image(photo)[0], atol=1e-6)
    # A client's box is the one product.
    client = encoder.encode_products(photo, box=(0, 0, 40, 40), max_products=3)
    assert [(f.box, f.source) for _, f in client] == [((0, 0, 40, 40), "client")]
    service.close()
    alone.close()


def test_the_candidate_box_closest_to_a_catalog_product_is_answered_first() -> None:
    photo = Image.fromarray(np.random.default_rng(7).integers(0, 256, (120, 90, 3), dtype=np.uint8))
    embedder = HashEmbedder()
    # The localiser ranks a face above the product; only the product's view matches the catalog.
    boxes = [((0, 0, 40, 40), 0.9), ((40, 60, 85, 110), 0.7), ((0, 70, 30, 100), 0.65)]
    product_view = QueryEncoder(
        embedder, lambda rows: np.zeros(len(rows)), FramingSettings(), SeveralLocaliser(boxes[1:2])
    ).encode_image(photo)[0]

    def closeness(rows: np.ndarray) -> np.ndarray:
        return np.array([1.0 if np.allclose(row, product_view, atol=1e-6) else 0.2 for row in rows])

    def encoder(candidates: int) -> QueryEncoder:
        framing = FramingSettings.of(product_candidates=candidates)
        return QueryEncoder(embedder, closeness, framing, SeveralLocaliser(boxes))

    assert encoder(1).encode_image(photo)[1].box == boxes[0][0]  # the localiser's own order
    vector, found = encoder(2).encode_image(photo)
    assert found.box == boxes[1][0] and found.score == 0.7
    np.testing.assert_allclose(vector, product_view, atol=1e-6)
    # The others follow in the localiser's order, under min_score left out.
    products = encoder(3).encode_products(photo, max_products=3, min_score=0.66)
    assert [f.box for _, f in products] == [boxes[1][0], boxes[0][0]]
    assert [f.box for _, f in encoder(3).encode_products(photo, max_products=3)] == [
        boxes[1][0],
        boxes[0][0],
        boxes[2][0],
    ]


def test_product_candidates_below_one_are_refused() -> None:
    with pytest.raises(ConfigError, match="product candidates"):
        FramingSettings.of(product_candidates=0)
