from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from snapbuy.crops import (
    CROP_MARGIN,
    DEFAULT_CROP_SCALES,
    box_framings,
    box_iou,
    box_views,
    crop_boxes,
    crop_with_edges,
    normalised_box,
    parse_normalised_box,
    pixel_box,
    query_crops,
    shrunk,
    square_around,
)
from snapbuy.errors import InvalidParameterError


def covered(boxes: list[tuple[int, int, int, int]], size: tuple[int, int]) -> bool:
    w, h = size
    return all(
        any(x0 <= x < x1 and y0 <= y < y1 for x0, y0, x1, y1 in boxes)
        for x in range(0, w, 7)
        for y in range(0, h, 7)
    )


@pytest.mark.parametrize("size", [(1200, 1600), (900, 1600), (1600, 1200), (500, 500)])
def test_every_scale_tiles_the_whole_photo_with_squares(size: tuple[int, int]) -> None:
    for scale in DEFAULT_CROP_SCALES:
        boxes = crop_boxes(size, [scale])
        side = round(min(size) * scale)
        assert all(x1 - x0 == side and y1 - y0 == side for x0, y0, x1, y1 in boxes)
        assert all(x0 >= 0 and y0 >= 0 and x1 <= size[0] and y1 <= size[1] for x0, y0, x1, y1 in boxes)
        assert covered(boxes, size)


def test_neighbouring_crops_overlap_by_about_half() -> None:
    boxes = crop_boxes((1000, 1000), [0.5])
    xs = sorted({b[0] for b in boxes})
    assert xs == [0, 250, 500]
    assert len(boxes) == 9


def test_query_crops_start_with_the_whole_photo() -> None:
    photo = Image.new("RGB", (300, 400))
    crops = query_crops(photo, [1.0, 0.5])
    assert crops[0] is photo
    assert len(crops) == 1 + len(crop_boxes((300, 400), [1.0, 0.5]))
    assert query_crops(photo, []) == [photo]


def test_box_iou() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (1, 1, 11, 11)) == pytest.approx(81 / 119)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_square_around_centres_on_the_box_with_a_margin() -> None:
    assert square_around((100, 200, 300, 300), margin=1.0) == (100, 150, 300, 350)
    left, top, right, bottom = square_around((100, 200, 300, 300), margin=1.1)
    assert right - left == bottom - top == 220 and (left + right) / 2 == 200 and (top + bottom) / 2 == 250


def test_square_around_moves_by_the_shift_in_box_sides() -> None:
    box = (100, 200, 300, 300)  # longer side 200
    assert square_around(box, margin=1.0, shift=(0.1, 0.0)) == (120, 150, 320, 350)
    assert square_around(box, margin=1.0, shift=(0.0, -0.25)) == (100, 100, 300, 300)


def test_box_framings_are_the_centred_margins_then_four_shifted_squares() -> None:
    assert box_framings((1.0, 1.5), 0.0) == [(1.0, 0.0, 0.0), (1.5, 0.0, 0.0)]
    framings = box_framings((1.0,), 0.1)
    assert framings[0] == (1.0, 0.0, 0.0)
    assert sorted(framings[1:]) == sorted(
        [(CROP_MARGIN, -0.1, 0.0), (CROP_MARGIN, 0.1, 0.0), (CROP_MARGIN, 0.0, -0.1), (CROP_MARGIN, 0.0, 0.1)]
    )


def test_shrunk_divides_by_a_whole_factor_to_no_less_than_the_side() -> None:
    image = Image.new("RGB", (250, 250), (10, 20, 30))
    assert shrunk(image, 96).size == (125, 125)  # 250 // 96 = 2
    assert shrunk(image, 40).size == (42, 42)  # factor 6: 250 / 6 rounded up
    assert shrunk(image, 200) is image and shrunk(image, None) is image
    assert shrunk(image, 40).getpixel((20, 20)) == (10, 20, 30)


def test_box_views_are_squares_of_each_framing_then_their_mirror_images() -> None:
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 150, 3), dtype=np.uint8))
    box = (40, 60, 100, 140)
    framings = [(1.0, 0.0, 0.0), (1.25, 0.0, 0.0)]
    plain = box_views(photo, box, framings, mirror=False)
    assert [view.size for view in plain] == [(80, 80), (100, 100)]
    assert plain[0].tobytes() == photo.crop(square_around(box, 1.0)).tobytes()
    assert box_views(photo, box, [(1.0, 0.1, 0.0)], mirror=False)[0].tobytes() == (
        photo.crop(square_around(box, 1.0, (0.1, 0.0))).tobytes()
    )
    # 80 // 30 = 2 and 100 // 30 = 3 (the last, partial block still makes a pixel: 100 / 3 -> 34)
    small = box_views(photo, box, framings, mirror=False, side=30)
    assert [view.size for view in small] == [(40, 40), (34, 34)]
    mirrored = box_views(photo, box, framings, mirror=True)
    assert len(mirrored) == 4
    assert np.array_equal(np.asarray(mirrored[2]), np.asarray(plain[0])[:, ::-1])
    assert np.array_equal(np.asarray(mirrored[3]), np.asarray(plain[1])[:, ::-1])


def test_a_crop_past_the_photo_edge_repeats_the_edge_pixels() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    photo = Image.fromarray(pixels)
    inside = crop_with_edges(photo, (5, 5, 20, 25))
    assert inside.tobytes() == photo.crop((5, 5, 20, 25)).tobytes()
    out = np.asarray(crop_with_edges(photo, (-4, 30, 26, 50)))  # 4 px past the left, 10 past the bottom
    assert out.shape == (20, 30, 3)
    np.testing.assert_array_equal(out[:10, 4:], pixels[30:40, 0:26])  # the photo's own pixels
    np.testing.assert_array_equal(out[:10, 0], pixels[30:40, 0])  # left: the first column again
    np.testing.assert_array_equal(out[15, 4:], pixels[39, 0:26])  # below: the last row again
    assert not (out == 0).all(axis=2).any() or (pixels == 0).all(axis=2).any()  # no black fill


def test_box_views_near_the_edge_have_no_black_bands() -> None:
    photo = Image.new("RGB", (100, 100), (200, 180, 160))
    views = box_views(photo, (0, 0, 40, 60), [(1.25, 0.0, 0.0)], mirror=False)
    assert views[0].size == (75, 75)
    assert np.asarray(views[0]).min() == 160


def test_boxes_go_to_shares_of_the_photo_and_back() -> None:
    assert normalised_box((20, 50, 60, 150), (100, 200)) == (0.2, 0.25, 0.6, 0.75)
    assert pixel_box((0.2, 0.25, 0.6, 0.75), (100, 200)) == (20, 50, 60, 150)
    # A box reaching past the photo is clipped to it; a sliver still covers a pixel each way.
    assert normalised_box((-10, -5, 120, 150), (100, 200)) == (0.0, 0.0, 1.0, 0.75)
    assert pixel_box((0.999, 0.5, 1.0, 0.5001), (100, 200)) == (99, 100, 100, 101)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0.1,0.2,0.5", "four numbers"),
        ("a,b,c,d", "four numbers"),
        ("0.1,0.2,nan,0.9", "four numbers"),
        ("0.5,0.2,0.1,0.9", "x0 < x1"),
        ("0.1,0.2,0.5,1.5", "inside the photo"),
        ("-0.1,0.2,0.5,0.9", "inside the photo"),
    ],
)
def test_a_clients_box_is_checked(text: str, problem: str) -> None:
    with pytest.raises(InvalidParameterError, match=problem):
        parse_normalised_box(text)


def test_a_clients_box_is_read() -> None:
    assert parse_normalised_box("0.1, 0.2,0.5 ,0.9") == (0.1, 0.2, 0.5, 0.9)
