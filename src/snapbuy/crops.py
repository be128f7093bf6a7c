"""Square crops of a shopper photo. The product may fill a quarter of a cluttered frame, off-centre:
either a localiser finds its box and search embeds a few squares around it, or one of a grid of
candidate crops frames it well, and search picks the crop whose best catalog match is strongest."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

# Crop sides as fractions of the photo's shorter side; consecutive crops overlap by half.
DEFAULT_CROP_SCALES: tuple[float, ...] = (1.0, 0.7, 0.5)

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) in photo pixels
# The crop around a found product box: the box's longer side times this, as in a tight product shot.
CROP_MARGIN = 1.1
# Search embeds squares of these margins around a found box, each also mirrored, and averages them:
# the localiser's box is often a little tight or loose, and the mean of a few framings is steadier
# than any one (the demo's 1,000 photos: group recall@1 0.380 -> 0.403, SKU recall@10 0.737 -> 0.762).
DEFAULT_BOX_MARGINS: tuple[float, ...] = (1.0, CROP_MARGIN, 1.25)


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


def box_views(image: Image.Image, box: Box, margins: Sequence[float], mirror: bool) -> list[Image.Image]:
    """Squares around `box` at each margin, then (with `mirror`) the same squares flipped left-right."""
    crops = [crop_with_edges(image, square_around(box, margin)) for margin in margins]
    if mirror:
        crops += [crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for crop in crops]
    return crops


def overlap_area(a: Sequence[float], b: Sequence[float]) -> float:
    """The area two (x0, y0, x1, y1) boxes share (0 when they are apart)."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    inter = overlap_area(a, b)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def square_around(box: Box, margin: float = CROP_MARGIN) -> Box:
    """A square centred on `box`, its side `margin` times the box's longer side (it may extend past
    the photo's edge: see crop_with_edges)."""
    x0, y0, x1, y1 = box
    half = max(x1 - x0, y1 - y0) * margin / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(1, round(2 * half))
    left, top = round(cx - half), round(cy - half)
    return left, top, left + side, top + side
