"""Finds the product in a shopper photo, so that the embedder sees the product and not the room.

A small fully convolutional net looks at the photo downscaled to a short side of `input_side` pixels.
For every cell of CELL x CELL input pixels it predicts how likely the product's centre lies in the cell
and where the product's box edges are, seen from that cell. The first look names the few most likely
places. The second look sees a square around each, scaled to the same input size: a product that filled
a quarter of the photo now fills most of the net's view, so its box is drawn more precisely, and a vase
or a book that the first look took for a product scores low (the net also learns from close-ups of
such decoys). The best-scoring close-up's box is the product's. Search embeds a few squares around it
(crops.box_views).

The net is trained by `snapbuy train` on the shop's own products composited into synthetic scenes, and
is stored next to the CLIP checkpoint it was trained with (NAME.pt -> NAME.localiser.pt)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image
from torch import nn

from snapbuy.crops import Box, box_iou, crop_with_edges, square_around
from snapbuy.embed.spec import ModelSpec
from snapbuy.embed.weights import file_sha256, training_record
from snapbuy.errors import ModelError

log = logging.getLogger(__name__)

FORMAT = 2
SUFFIX = ".localiser.pt"
# One map cell covers CELL x CELL input pixels (three stride-2 layers).
CELL = 8
# Box edges are predicted relative to the cell's centre, in units of this many input pixels.
BOX_UNIT = 64.0
# A place whose centre probability is below this holds no product the net recognises.
MIN_SCORE = 0.1
# The second look: a square this many times the first box's longer side, centred on it.
REFINE_MARGIN = 1.4
# The first look names this many places; the second look picks the one that is a product. The best
# place is rarely a decoy, but when it is, this rescues the photo
# (docs/experiments/2026-11-30-localiser.md#three-candidates).
CANDIDATES = 3
# Two close-up boxes that overlap more than this (intersection over union) are one product.
SAME_PRODUCT_IOU = 0.3
MAP_CHANNELS = 5  # centre logit, then box edges x0, y0, x1, y1
FloatBox = tuple[float, float, float, float]


def _conv(inputs: int, outputs: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class ProductMapNet(nn.Module):
    """Photo [B, 3, H, W] in [0, 1] -> [B, 5, H/8, W/8]: per cell, the logit of "the product's centre is
    here" and the product's box edges (x0, y0, x1, y1) relative to the cell's centre, in BOX_UNITs.
    Dilated layers and a whole-image context vector let each cell judge a blob against its surroundings."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.width = width
        self.encoder = nn.Sequential(
            _conv(3, width, 2),
            _conv(width, width),
            _conv(width, 2 * width, 2),
            _conv(2 * width, 2 * width),
            _conv(2 * width, 4 * width, 2),
            _conv(4 * width, 4 * width, dilation=2),
            _conv(4 * width, 4 * width, dilation=4),
        )
        self.context = nn.Linear(4 * width, 4 * width)
        self.head = nn.Sequential(_conv(8 * width, 4 * width), nn.Conv2d(4 * width, MAP_CHANNELS, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.encoder(pixels - 0.5)
        context = self.context(features.mean(dim=(2, 3)))[:, :, None, None].expand_as(features)
        out: torch.Tensor = self.head(torch.cat([features, context], dim=1))
        return out


def cell_centres(
    height: int, width: int, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """x and y of every map cell's centre in input pixels, each [height, width]."""
    ys = (torch.arange(height, dtype=torch.float32, device=device) + 0.5) * CELL
    xs = (torch.arange(width, dtype=torch.float32, device=device) + 0.5) * CELL
    return xs.expand(height, width), ys[:, None].expand(height, width)


def absolute_boxes(edges: torch.Tensor) -> torch.Tensor:
    """[..., 4, H, W] edges relative to each cell (BOX_UNITs) -> box corners in input pixels."""
    xs, ys = cell_centres(edges.shape[-2], edges.shape[-1], edges.device)
    offsets = torch.stack([xs, ys, xs, ys])
    return edges * BOX_UNIT + offsets


def mirror_boxes(boxes: torch.Tensor, width: float, dim: int) -> torch.Tensor:
    """Boxes, their (x0, y0, x1, y1) along `dim`, as they lie in the left-right mirror image of an
    image `width` pixels wide: the x edges swap and are measured from the other side."""
    x0, y0, x1, y1 = boxes.unbind(dim)
    return torch.stack([width - x1, y0, width - x0, y1], dim=dim)


def _inside(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> Box:
    """The box in whole pixels, cut to an image of width x height."""
    return (
        max(0, math.floor(x0)),
        max(0, math.floor(y0)),
        min(width, math.ceil(x1)),
        min(height, math.ceil(y1)),
    )


def _boxes_in(
    prediction: MapPrediction, image: Image.Image, min_score: float, count: int
) -> list[tuple[Box, float]]:
    """Up to `count` of the prediction's peaks as boxes in whole pixels inside `image`, with scores."""
    boxes = []
    for (x0, y0, x1, y1), score in prediction.peaks(min_score, count):
        box = _inside(x0, y0, x1, y1, image.width, image.height)
        if box[2] > box[0] and box[3] > box[1]:
            boxes.append((box, score))
    return boxes


def _whole_cells(side: float) -> int:
    return max(CELL, round(side / CELL) * CELL)


@dataclass(frozen=True)
class MapPrediction:
    """What the net says about one image, in that image's pixels."""

    centre: np.ndarray  # [h, w] probability that the product's centre lies in the cell
    boxes: np.ndarray  # [4, h, w] the box (x0, y0, x1, y1) each cell predicts
    cell_size: tuple[float, float] = (CELL, CELL)  # a cell's width and height in image pixels

    def peaks(self, min_score: float = MIN_SCORE, count: int = 1) -> list[tuple[FloatBox, float]]:
        """Up to `count` boxes with their centre probability, most probable first. Each box is what the
        most probable cell and its neighbours agree on (weighted by their probability); the cells
        whose centre lies inside a box found are then passed over: their peak is the same thing."""
        centre = self.centre.copy()
        height, width = centre.shape
        cell_x = (np.arange(width) + 0.5) * self.cell_size[0]
        cell_y = (np.arange(height) + 0.5) * self.cell_size[1]
        found: list[tuple[FloatBox, float]] = []
        while len(found) < count:
            y, x = np.unravel_index(int(np.argmax(centre)), centre.shape)
            score = float(centre[y, x])
            if score < min_score:
                break
            rows = slice(max(0, y - 1), y + 2)
            cols = slice(max(0, x - 1), x + 2)
            weights = self.centre[rows, cols]
            x0, y0, x1, y1 = ((self.boxes[:, rows, cols] * weights).sum(axis=(1, 2)) / weights.sum()).tolist()
            found.append(((x0, y0, x1, y1), score))
            centre[np.ix_((cell_y >= y0) & (cell_y <= y1), (cell_x >= x0) & (cell_x <= x1))] = 0.0
            centre[y, x] = 0.0
        return found


@dataclass
class ProductLocaliser:
    net: ProductMapNet
    input_side: int  # the photo's short side as the net sees it; a close-up's side too
    min_score: float = MIN_SCORE
    refine_margin: float = REFINE_MARGIN
    candidates: int = CANDIDATES

    def __post_init__(self) -> None:
        # Channels-last convolutions cost about a quarter less here (a batch of close-ups: 7.0 ms
        # against 9.4 on 2 cores; docs/experiments/2026-12-05-query-throughput.md).
        self.net.to(memory_format=torch.channels_last)

    def predict(self, image: Image.Image) -> MapPrediction:
        """The net's map of `image` resized to a short side of input_side: the mean of the image's
        map and its mirror image's (about 2 points more products found than one pass)."""
        return self.predict_each([image])[0]

    def predict_each(
        self, images: Sequence[Image.Image], smalls: Sequence[Image.Image] | None = None
    ) -> list[MapPrediction]:
        """predict() of each image; images that come out the same size (a photo's close-ups, all
        squares) go through the net in one call, which costs less than one call each. `smalls`: the
        images already resized for the net (first_look), else they are resized here."""
        if smalls is None:
            smalls = [self._resized(image) for image in images]
        same_size: dict[tuple[int, int], list[int]] = {}
        for i, small in enumerate(smalls):
            same_size.setdefault(small.size, []).append(i)
        predictions: dict[int, MapPrediction] = {}
        self.net.eval()
        for (width, height), members in same_size.items():
            pixels = torch.stack(
                [
                    torch.from_numpy(np.asarray(smalls[i], dtype=np.float32) / 255.0).permute(2, 0, 1)
                    for i in members
                ]
            )
            count = len(members)
            with torch.inference_mode():
                out = self.net(
                    torch.cat([pixels, pixels.flip(3)]).contiguous(memory_format=torch.channels_last)
                )
                centre = torch.sigmoid(out[:, 0])
                boxes = absolute_boxes(out[:, 1:])
                # The mirror pass's maps flipped back, their boxes mirrored back with them.
                unmirrored = mirror_boxes(boxes[count:].flip(3), width, dim=1)
                centre_mean = (centre[:count] + centre[count:].flip(2)) / 2
                boxes_mean = (boxes[:count] + unmirrored) / 2
            for k, i in enumerate(members):
                scale_x, scale_y = images[i].width / width, images[i].height / height
                factors = np.array([scale_x, scale_y, scale_x, scale_y], dtype=np.float32)[:, None, None]
                predictions[i] = MapPrediction(
                    centre_mean[k].numpy(), boxes_mean[k].numpy() * factors, (CELL * scale_x, CELL * scale_y)
                )
        return [predictions[i] for i in range(len(images))]

    def first_look(self, image: Image.Image) -> Image.Image:
        """`image` as the net's first look at it takes it (find_all_each's `first_looks`): plain
        resizing, which any thread can do while the net runs for others."""
        return self._resized(image)

    def _resized(self, image: Image.Image) -> Image.Image:
        """`image` at a short side of input_side, its sides in whole cells (so that the mirror pass's
        cells line up with the first pass's)."""
        scale = self.input_side / min(image.size)
        return image.convert("RGB").resize(
            (_whole_cells(image.width * scale), _whole_cells(image.height * scale)), Image.Resampling.BILINEAR
        )

    def _look_each(
        self, images: Sequence[Image.Image], count: int, smalls: Sequence[Image.Image] | None = None
    ) -> list[list[tuple[Box, float]]]:
        """For each image, up to `count` boxes (whole pixels inside it) with their scores."""
        return [
            _boxes_in(prediction, image, self.min_score, count)
            for prediction, image in zip(self.predict_each(images, smalls), images, strict=True)
        ]

    def find(self, image: Image.Image) -> Box | None:
        """The product's box in `image` pixels, or None when the net sees no product: the first look's
        best few places, each judged again on a close-up; the best-scoring close-up's box wins."""
        found = self.find_all(image)
        return found[0][0] if found else None

    def find_all(self, image: Image.Image) -> list[tuple[Box, float]]:
        """Every product the net sees, best first, as (box in `image` pixels, close-up score): the
        first look's best few places, each judged again on a close-up; a box that overlaps a
        better-scoring one (SAME_PRODUCT_IOU) is the same product seen twice and is dropped."""
        return self.find_all_each([image])[0]

    def find_all_each(
        self, images: Sequence[Image.Image], first_looks: Sequence[Image.Image] | None = None
    ) -> list[list[tuple[Box, float]]]:
        """find_all() of each image, the first looks of all of them in one net call and their
        close-ups in another (several searches' photos at once cost less than one call each).
        `first_looks`: first_look() of each image, when made beforehand."""
        firsts_each = self._look_each(images, self.candidates, first_looks)
        squares_each = [
            [square_around(first, self.refine_margin) for first, _ in firsts] for firsts in firsts_each
        ]
        # The close-ups are squares of one size once resized: one net call for all of them.
        close_ups = [
            crop_with_edges(image, square)
            for image, squares in zip(images, squares_each, strict=True)
            for square in squares
        ]
        seconds_all = self._look_each(close_ups, 1)
        found_each, start = [], 0
        for image, firsts, squares in zip(images, firsts_each, squares_each, strict=True):
            seconds = seconds_all[start : start + len(squares)]
            start += len(squares)
            found_each.append(_judged(image, firsts, squares, seconds))
        return found_each

    def save(self, target: Path | BinaryIO) -> None:
        state = {
            "format": FORMAT,
            "width": self.net.width,
            "input_side": self.input_side,
            "state_dict": self.net.state_dict(),
        }
        torch.save(state, target)

    @classmethod
    def load(cls, path: Path) -> ProductLocaliser:
        try:
            state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or "format" not in state:
                raise ValueError("not a snapbuy product localiser")
            if state["format"] != FORMAT:
                raise ValueError(
                    f"made by another snapbuy version (format {state['format']}, this one reads "
                    f"{FORMAT}); train the model again"
                )
            net = ProductMapNet(int(state["width"]))
            net.load_state_dict(state["state_dict"])
        except Exception as exc:  # a truncated, foreign or mismatched file: say which and why
            raise ModelError(f"cannot load the product localiser {path}: {exc}") from exc
        return cls(net.eval(), int(state["input_side"]))


def _judged(
    image: Image.Image,
    firsts: list[tuple[Box, float]],
    squares: list[Box],
    seconds: list[list[tuple[Box, float]]],
) -> list[tuple[Box, float]]:
    """The first look's boxes judged by their close-ups (see ProductLocaliser.find_all), best first,
    repeats of one product dropped."""
    judged: list[tuple[Box, float]] = []
    for (first, first_score), square, second in zip(firsts, squares, seconds, strict=True):
        if second:
            (x0, y0, x1, y1), score = second[0]
            left, top = square[0], square[1]
            box = _inside(x0 + left, y0 + top, x1 + left, y1 + top, image.width, image.height)
            judged.append((box, score))
        else:  # nothing there on a closer look: keep the first box, but doubt it
            judged.append((first, first_score / 2))
    kept: list[tuple[Box, float]] = []
    for box, score in sorted(judged, key=lambda found: -found[1]):
        if all(box_iou(box, other) <= SAME_PRODUCT_IOU for other, _ in kept):
            kept.append((box, score))
    return kept


def localiser_path(checkpoint: Path) -> Path:
    """Where the localiser trained with `checkpoint` lives: NAME.pt -> NAME.localiser.pt."""
    return checkpoint.with_suffix(SUFFIX)


def recorded_localiser_digest(checkpoint: Path) -> str | None:
    """The SHA-256 of the localiser that `snapbuy train` wrote with `checkpoint`, as the checkpoint
    records it; None for checkpoints that record none."""
    record = training_record(checkpoint) or {}
    localiser = record.get("localiser")
    digest = localiser.get("sha256") if isinstance(localiser, dict) else None
    return digest if isinstance(digest, str) else None


def localiser_for(spec: ModelSpec) -> ProductLocaliser | None:
    """The localiser trained along with the model's checkpoint file, when one lies next to it. One
    that the checkpoint does not name (a training run stopped between writing the two files, or a
    file copied from another model) is an error, not a silent mismatch."""
    if not spec.weights_is_file or spec.weights is None:
        return None
    checkpoint = Path(spec.weights)
    path = localiser_path(checkpoint)
    if not path.is_file():
        return None
    expected = recorded_localiser_digest(checkpoint)
    if expected is not None and file_sha256(path) != expected:
        raise ModelError(
            f"the product localiser {path} was not trained with {checkpoint} (a training run stopped "
            "between writing the two, or a file copied from another model): train the model again, or "
            f"delete {path} to search without it"
        )
    return load_localiser(path)


def load_localiser(path: Path) -> ProductLocaliser:
    """The localiser in `path`, said once in the log: searches find the product with it."""
    localiser = ProductLocaliser.load(path)
    log.info("product localiser %s finds the product in photos before embedding", path)
    return localiser
