"""Square crops of a shopper photo. The product may fill a quarter of a cluttered frame, off-centre:
either a localiser finds its box and search embeds a few squares around it, or one of a grid of
candidate crops frames it well, and search picks the crop whose best catalog match is strongest."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from snapbuy.errors import InvalidParameterError

# Crop sides as fractions of the photo's shorter side; consecutive crops overlap by half.
DEFAULT_CROP_SCALES: tuple[float, ...] = (1.0, 0.7, 0.5)

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) in photo pixels
# (x0, y0, x1, y1) as shares of the photo's width and height, 0 to 1: the same place at any photo size.
NormalisedBox = tuple[float, float, float, float]
# The crop around a found product box: the box's longer side times this, as in a tight product shot.
CROP_MARGIN = 1.1
# Search embeds framings of a found box: squares of these margins, centred on it, and (with a shift)
# four squares of CROP_MARGIN moved by that share of the box's longer side left, right, up and down;
# (with mirror views) each also mirrored. The localiser's box is often a little tight, loose or
# off-centre, and one of these frames the product as the catalog does. Each framing weighs in by how
# closely it matches its nearest catalog product (search.query_encoder, FRAMING_TEMPERATURE).
# Every view is one more image through the model, and with a CLIP ViT-B-32 on a CPU the views are most
# of a query's cost. The framings make up for an imprecise box: around the true box one view at
# CROP_MARGIN finds as much as 22 framings (0.813 against 0.821 item-group recall@1 on the demo shop),
# and around the box of a localiser trained 9,000 steps one view finds as much as three (0.741 against
# 0.740) and as much as 22 found with the 1,400-step localiser the demo trains in 7 minutes
# (docs/experiments/2026-12-04-one-view.md). So one view by default; a weakly trained localiser is
# helped by SNAPBUY_BOX_MARGINS='[0.85,1.1,1.4]' (3.7 points there).
DEFAULT_BOX_MARGINS: tuple[float, ...] = (CROP_MARGIN,)
DEFAULT_BOX_SHIFT = 0.0
DEFAULT_MIRROR_VIEWS = False
# Softmax temperature over the framings' nearest-product scores (cosine similarities); 0 weighs them all
# alike. Not sensitive near this value (docs/experiments/2026-11-30-localiser.md#framing-temperature).
FRAMING_TEMPERATURE = 0.03
# How many of the localiser's best boxes compete to be the photo's product: the one whose framing
# matches a catalog product most closely wins. 1: the localiser's best box, as it ranks them.
DEFAULT_PRODUCT_CANDIDATES = 1
# (margin, shift_x, shift_y): a square of `margin` times a box's longer side, its centre moved by
# shift_x and shift_y times that side.
Framing = tuple[float, float, float]


def _starts(length: int, side: int) -> list[int]:
    if side >= length:
        return [0]
    count = math.ceil((length - side) / (side / 2)) + 1
    return [round(i * (length - side) / (count - 1)) for i in range(count)]


def crop_boxes(size: tuple[int, int], scales: Sequence[float]) -> list[Box]:
    """Square boxes tiling the whole image at each scale, overlapping by half."""
    width, height = size
    boxes: list[Box] = []
    for scale in scales:
        side = max(1, round(min(width, height) * scale))
        boxes += [(x, y, x + side, y + side) for y in _starts(height, side) for x in _starts(width, side)]
    return list(dict.fromkeys(boxes))


def query_crops(image: Image.Image, scales: Sequence[float]) -> list[Image.Image]:
    """The photo itself first (its centre, as the model's preprocessing sees it), then the crops."""
    return [image, *(image.crop(box) for box in crop_boxes(image.size, scales))]


def crop_with_edges(image: Image.Image, box: Box) -> Image.Image:
    """`image` cropped to `box`, which may reach past the photo's edges: that part repeats the photo's
    edge pixels, as if the scene went on, rather than PIL's black. A product near the edge of a photo
    (half of the demo's shopper photos at margin 1.25) then looks as it does elsewhere; black bands
    cost the demo model 2.7 points of group recall@1 on true boxes, and 8 on plain backgrounds."""
    x0, y0, x1, y1 = box
    inside = (max(0, x0), max(0, y0), min(image.width, x1), min(image.height, y1))
    if inside == box or inside[2] <= inside[0] or inside[3] <= inside[1]:
        return image.crop(box)
    pixels = np.asarray(image.crop(inside))
    pad = ((inside[1] - y0, y1 - inside[3]), (inside[0] - x0, x1 - inside[2])) + ((0, 0),) * (pixels.ndim - 2)
    return Image.fromarray(np.pad(pixels, pad, mode="edge"), image.mode)


def box_framings(margins: Sequence[float], shift: float) -> list[Framing]:
    """A centred square at each margin, then (when `shift` > 0) four squares of CROP_MARGIN moved
    left, right, up and down by `shift` of the box's longer side."""
    framings = [(margin, 0.0, 0.0) for margin in margins]
    if shift > 0:
        framings += [(CROP_MARGIN, -shift, 0.0), (CROP_MARGIN, shift, 0.0)]
        framings += [(CROP_MARGIN, 0.0, -shift), (CROP_MARGIN, 0.0, shift)]
    return framings


def shrunk(image: Image.Image, side: int | None) -> Image.Image:
    """`image` shrunk by a whole factor (a box filter) to no fewer than `side` pixels across, or as it
    is when smaller than twice that. A model's preprocessing resizes every view to its input size with
    a wide filter; a square cut from a phone photo costs it several times more than the model itself,
    and views shrunk first to about twice that size lose nothing it would keep."""
    factor = image.width // side if side else 1
    return image.reduce(factor) if factor >= 2 else image


def box_views(
    image: Image.Image, box: Box, framings: Sequence[Framing], mirror: bool, side: int | None = None
) -> list[Image.Image]:
    """The square of each framing of `box` (shrunk towards `side` pixels: see shrunk), then (with
    `mirror`) the same squares flipped left-right."""
    crops = [
        shrunk(crop_with_edges(image, square_around(box, margin, (shift_x, shift_y))), side)
        for margin, shift_x, shift_y in framings
    ]
    if mirror:
        crops += [crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for crop in crops]
    return crops


def overlap_area(a: Sequence[float], b: Sequence[float]) -> float:
    """The area two (x0, y0, x1, y1) boxes share (0 when they are apart)."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def normalised_box(box: Box, size: tuple[int, int]) -> NormalisedBox:
    """`box` (pixels of a photo of `size`) as shares of the photo's sides, clipped to the photo."""
    width, height = size
    x0, y0, x1, y1 = box
    return (
        min(1.0, max(0.0, x0 / width)),
        min(1.0, max(0.0, y0 / height)),
        min(1.0, max(0.0, x1 / width)),
        min(1.0, max(0.0, y1 / height)),
    )


def parse_normalised_box(text: str) -> NormalisedBox:
    """'x0,y0,x1,y1', each a share of the photo's width or height from 0 to 1, with x0 < x1 and
    y0 < y1; InvalidParameterError says what is wrong otherwise."""
    parts = text.split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidParameterError(f"box must be four numbers 'x0,y0,x1,y1' from 0 to 1, got {text[:80]!r}")
    x0, y0, x1, y1 = values
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise InvalidParameterError(
            f"box must lie inside the photo (0 to 1) with x0 < x1 and y0 < y1, got {text[:80]!r}"
        )
    return x0, y0, x1, y1


def pixel_box(box: NormalisedBox, size: tuple[int, int]) -> Box:
    """A normalised box in the pixels of a photo of `size`, at least one pixel across each way."""
    width, height = size
    x0, y0 = min(width - 1, round(box[0] * width)), min(height - 1, round(box[1] * height))
    return x0, y0, max(x0 + 1, round(box[2] * width)), max(y0 + 1, round(box[3] * height))


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    inter = overlap_area(a, b)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def square_around(box: Box, margin: float = CROP_MARGIN, shift: tuple[float, float] = (0.0, 0.0)) -> Box:
    """A square centred on `box`, or moved from its centre by `shift` (x, y) times the box's longer
    side, its side `margin` times that side (it may extend past the photo's edge: see crop_with_edges)."""
    x0, y0, x1, y1 = box
    longer = max(x1 - x0, y1 - y0)
    half = longer * margin / 2
    cx, cy = (x0 + x1) / 2 + shift[0] * longer, (y0 + y1) / 2 + shift[1] * longer
    side = max(1, round(2 * half))
    left, top = round(cx - half), round(cy - half)
    return left, top, left + side, top + side
