"""Candidate square crops of a shopper photo. The product may fill a quarter of a cluttered frame,
off-centre; one of these crops frames it well, and search picks the crop whose best catalog match
is strongest."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image

# Crop sides as fractions of the photo's shorter side; consecutive crops overlap by half.
DEFAULT_CROP_SCALES: tuple[float, ...] = (1.0, 0.7, 0.5)

Box = tuple[int, int, int, int]


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
