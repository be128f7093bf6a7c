from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from snapbuy.catalog_views import CatalogViewMaker, view_side_of, with_views
from snapbuy.errors import InvalidParameterError


def studio_shot(colour: tuple[int, int, int]) -> Image.Image:
    """A product (a filled disc) centred on a plain near-white background, as a catalog image."""
    image = Image.new("RGB", (96, 96), (250, 250, 250))
    ImageDraw.Draw(image).ellipse((20, 20, 76, 76), fill=colour)
    return image


def test_each_image_gets_its_views_at_the_model_input_side() -> None:
    views = CatalogViewMaker(3, 24, seed=0).views_of(
        [studio_shot((200, 30, 30)), studio_shot((30, 30, 200))], ["red", "blue"]
    )
    assert len(views) == 6
    assert all(v.size == (24, 24) and v.mode == "RGB" for v in views)


def test_views_show_the_product_image_by_image() -> None:
    red, blue = studio_shot((220, 20, 20)), studio_shot((20, 20, 220))
    views = CatalogViewMaker(4, 32, seed=0).views_of([red, blue], ["red", "blue"])

    def share(view: Image.Image, channel: int) -> float:
        pixels = np.asarray(view, dtype=np.float32)
        others = np.delete(pixels, channel, axis=2).max(axis=2)
        return float(np.mean(pixels[..., channel] > others + 60))

    def mean_share(views: list[Image.Image], channel: int) -> float:
        return float(np.mean([share(v, channel) for v in views]))

    # The product fills most of each view (scale 0.8-1.0); scenes and occluders cover the rest.
    assert mean_share(views[:4], 0) > 0.25 and mean_share(views[:4], 0) > 2 * mean_share(views[:4], 2)
    assert mean_share(views[4:], 2) > 0.25 and mean_share(views[4:], 2) > 2 * mean_share(views[4:], 0)


def test_an_images_views_depend_on_its_key_and_the_seed_alone() -> None:
    green, grey = studio_shot((40, 160, 60)), studio_shot((120, 120, 120))

    def pixels(images: list[Image.Image], keys: list[str], seed: int = 5) -> np.ndarray:
        return np.stack([np.asarray(v) for v in CatalogViewMaker(2, 24, seed).views_of(images, keys)])

    alone = pixels([green], ["g"])
    assert np.array_equal(alone, pixels([green], ["g"]))
    # The same image among others, first or last, in a maker that has made views before: the same views.
    maker = CatalogViewMaker(2, 24, 5)
    maker.views_of([grey], ["x"])
    later = np.stack([np.asarray(v) for v in maker.views_of([grey, green], ["x", "g"])])
    assert np.array_equal(later[2:], alone)
    assert np.array_equal(pixels([green, grey], ["g", "x"])[:2], alone)
    # Another seed or another key: other views.
    assert not np.array_equal(pixels([green], ["g"], seed=6), alone)
    assert not np.array_equal(pixels([green], ["h"]), alone)


def test_a_key_is_needed_for_every_image() -> None:
    with pytest.raises(ValueError, match="a key for each of the 2 images"):
        CatalogViewMaker(2, 24).views_of([studio_shot((1, 2, 3)), studio_shot((4, 5, 6))], ["one"])


def test_no_images_no_views() -> None:
    assert CatalogViewMaker(2, 24).views_of([], []) == []


def test_a_view_count_below_one_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="at least 1"):
        CatalogViewMaker(0, 24)


def test_the_view_side_comes_from_the_model_preprocessing() -> None:
    assert view_side_of({"image_size": [48, 48]}) == 48
    assert view_side_of({"image_size": 224}) == 224
    assert view_side_of({"image_size": [48, 64]}) == 64  # the longer side of a non-square input
    with pytest.raises(InvalidParameterError, match="input image size"):
        view_side_of({})


def test_with_views_adds_the_mean_view_to_the_studio_vector() -> None:
    studio = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    views = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    out = with_views(studio, views, 2)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out[0], np.array([1.0, 0.5, 0.5]) / np.sqrt(1.5), rtol=1e-6)
    np.testing.assert_allclose(out[1], [0.0, 1.0, 0.0], rtol=1e-6)  # views agree with the studio shot


def test_with_views_refuses_a_view_count_that_does_not_match() -> None:
    with pytest.raises(ValueError, match="expected 4 view vectors"):
        with_views(np.ones((2, 3), np.float32), np.ones((3, 3), np.float32), 2)
