"""Finds the product in a shopper photo, so that the embedder sees the product and not the room.

A small fully convolutional net maps the photo, downscaled to a short side of `input_side` pixels, to
a product-probability map at 1/8 of that resolution. The box around the connected blob holding the most
probability is where the product is; search embeds a few squares around it (crops.box_views).
The net is trained by `snapbuy train` on the shop's own products composited into synthetic scenes, and
is stored next to the CLIP checkpoint it was trained with (NAME.pt -> NAME.localiser.pt)."""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image
from torch import nn

from snapbuy.crops import Box
from snapbuy.embed.spec import ModelSpec
from snapbuy.errors import ModelError

log = logging.getLogger(__name__)

FORMAT = 1
SUFFIX = ".localiser.pt"
# One map cell covers CELL x CELL input pixels (three stride-2 layers).
CELL = 8
# Map cells above this probability count as product. Lower than 0.5 because a briefly trained net is
# unsure about parts of the product (a sole, a lamp's stem) and would otherwise cut them off.
THRESHOLD = 0.3


def _conv(inputs: int, outputs: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class ProductMapNet(nn.Module):
    """Photo [B, 3, H, W] in [0, 1] -> product logits [B, 1, H/8, W/8]. Dilated layers and a
    whole-image context vector let each cell judge a blob against its surroundings."""

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
        self.head = nn.Sequential(_conv(8 * width, 4 * width), nn.Conv2d(4 * width, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.encoder(pixels - 0.5)
        context = self.context(features.mean(dim=(2, 3)))[:, :, None, None].expand_as(features)
        logits: torch.Tensor = self.head(torch.cat([features, context], dim=1))
        return logits


def strongest_blob(probability: np.ndarray, threshold: float = THRESHOLD) -> Box | None:
    """(x0, y0, x1, y1) in map cells of the 4-connected region above `threshold` with the largest
    probability mass, or None when no cell is above it."""
    above = probability > threshold
    seen = np.zeros_like(above)
    best: tuple[float, Box] | None = None
    height, width = above.shape
    for y, x in zip(*np.nonzero(above), strict=True):
        if seen[y, x]:
            continue
        seen[y, x] = True
        queue, mass, box = deque([(y, x)]), 0.0, [x, y, x, y]
        while queue:
            cy, cx = queue.popleft()
            mass += float(probability[cy, cx])
            box = [min(box[0], cx), min(box[1], cy), max(box[2], cx), max(box[3], cy)]
            for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                if 0 <= ny < height and 0 <= nx < width and above[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        if best is None or mass > best[0]:
            best = (mass, (box[0], box[1], box[2] + 1, box[3] + 1))
    return None if best is None else best[1]


@dataclass
class ProductLocaliser:
    net: ProductMapNet
    input_side: int  # the photo's short side as the net sees it
    threshold: float = THRESHOLD

    def probability_map(self, image: Image.Image) -> np.ndarray:
        """[H/CELL, W/CELL] product probability of each cell of the downscaled photo: the mean of the
        photo's map and its mirror image's (about 2 points more products found than one pass)."""
        scale = self.input_side / min(image.size)
        small = image.convert("RGB").resize(
            (max(8, round(image.width * scale)), max(8, round(image.height * scale))),
            Image.Resampling.BILINEAR,
        )
        pixels = torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        both = torch.cat([pixels, pixels.flip(3)])
        self.net.eval()
        with torch.inference_mode():
            maps = torch.sigmoid(self.net(both))[:, 0]
            out: np.ndarray = ((maps[0] + maps[1].flip(1)) / 2).numpy()
        return out

    def find(self, image: Image.Image) -> Box | None:
        """The product's box in `image` pixels, or None when the net sees no product."""
        probability = self.probability_map(image)
        cells = strongest_blob(probability, self.threshold)
        if cells is None:
            return None
        fx, fy = image.width / probability.shape[1], image.height / probability.shape[0]
        x0, y0, x1, y1 = cells
        return (
            math.floor(x0 * fx),
            math.floor(y0 * fy),
            min(image.width, math.ceil(x1 * fx)),
            min(image.height, math.ceil(y1 * fy)),
        )

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
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise ValueError("not a snapbuy product localiser")
            net = ProductMapNet(int(state["width"]))
            net.load_state_dict(state["state_dict"])
        except Exception as exc:  # a truncated, foreign or mismatched file: say which and why
            raise ModelError(f"cannot load the product localiser {path}: {exc}") from exc
        return cls(net.eval(), int(state["input_side"]))


def localiser_path(checkpoint: Path) -> Path:
    """Where the localiser trained with `checkpoint` lives: NAME.pt -> NAME.localiser.pt."""
    return checkpoint.with_suffix(SUFFIX)


def localiser_for(spec: ModelSpec) -> ProductLocaliser | None:
    """The localiser trained along with the model's checkpoint file, when one lies next to it."""
    if not spec.weights_is_file or spec.weights is None:
        return None
    path = localiser_path(Path(spec.weights))
    if not path.is_file():
        return None
    localiser = ProductLocaliser.load(path)
    log.info("product localiser %s finds the product in photos before embedding", path)
    return localiser
