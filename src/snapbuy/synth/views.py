"""Fresh shopper-photo-like views, made with batched tensor operations: training's views every step
(train/trainer.py) and indexing's catalog views (catalog_views.py).

A fixed handful of pre-rendered views per product gets memorised within minutes; here each step
warps every product's cut-out sprite (scale, position, tilt, mirror), composites it onto a random
cluttered scene, may put an occluder over its edge, and shifts its colour. Only the training
families are used: perspective, sensor noise and JPEG artefacts stay held out. Blur, a training
family, is not drawn here either: a shopper photo's defocus shrinks to well under a pixel at the
model's input size, while a 3 x 3 blur there wipes out the small parts that tell designs apart
(docs/experiments/2026-11-30-training-recipe.md#no-blur-in-views)."""

from __future__ import annotations

import math
import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from snapbuy.synth.cutout import cut_out
from snapbuy.synth.photos import scene

# Fraction of the view the product spans. Search embeds a square crop around the product the localiser
# found (about 0.9 of the crop), and training on that framing rather than 0.4-1.0 found more
# (docs/experiments/2026-11-30-training-recipe.md#product-scale-in-views).
SCALE_RANGE = (0.8, 1.0)
MAX_TILT_DEGREES = 25.0
OCCLUSION_RATE = 0.4
# Sprites are kept at this many times the view's side (at most MAX_SPRITE_SIDE pixels) and each view
# samples its product down from one: edges and small parts stay as sharp as in a phone photo shrunk to
# the model's input, where warping a view-sized sprite blurs them. Twice the side did best
# (docs/experiments/2026-11-30-training-recipe.md#oversampled-cut-outs).
SPRITE_OVERSAMPLE = 2
MAX_SPRITE_SIDE = 160
# Scenes are drawn at twice the view size and each use takes a random zoomed, turned, mirrored and
# recoloured window of one: with a fixed few hundred backgrounds the model learns to subtract those
# particular scenes and then fails on every new one.
BACKGROUNDS = 1024
# Tone curves and uneven light, as synth/camera.py gives shopper photos: the light across a view
# changes by up to twice MAX_LIGHT_FALLOFF from one side to the other.
GAMMA_RANGE = (0.7, 1.45)
MAX_LIGHT_FALLOFF = 0.35
BACKGROUND_OVERSAMPLE = 2


def sprite_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """[4, size, size] float RGBA in [0, 1]: the product cut out, tight-cropped, centred in a square."""
    # Cut out at twice the training size: the border flood fill's cost grows with the pixel count
    # times the image side, and finer detail is lost in the final resize anyway.
    if min(image.size) > 2 * size:
        image = image.copy()
        image.thumbnail((2 * size, 2 * size), Image.Resampling.BILINEAR)
    sprite = cut_out(image)
    box = sprite.getbbox() or (0, 0, sprite.width, sprite.height)
    sprite = sprite.crop(box)
    side = max(sprite.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(sprite, ((side - sprite.width) // 2, (side - sprite.height) // 2))
    square = square.resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(square, dtype=np.float32) / 255.0).permute(2, 0, 1)


def scene_tensors(count: int, size: int, rng: random.Random) -> torch.Tensor:
    """[count, 3, size, size] cluttered scenes with distractor objects, in [0, 1]."""
    scenes = [np.asarray(scene(rng, (size, size)), dtype=np.float32) / 255.0 for _ in range(count)]
    return torch.from_numpy(np.stack(scenes)).permute(0, 3, 1, 2).contiguous()


def sprite_side(view_side: int) -> int:
    """The side of the sprites that views of `view_side` pixels are sampled from."""
    return max(view_side, min(SPRITE_OVERSAMPLE * view_side, MAX_SPRITE_SIDE))


class ViewSynthesizer:
    def __init__(self, sprites: torch.Tensor, backgrounds: torch.Tensor, seed: int, view_side: int) -> None:
        self.sprites = sprites  # [N, 4, P, P] (P = sprite_side(view_side)), on the device views are made on
        self.silhouettes = sprites[:, 3:4].contiguous()  # an occluder needs only a sprite's shape
        self.backgrounds = backgrounds  # [M, 3, B, B] scenes, on the same device
        self.view_side = view_side
        self.device = sprites.device
        # Random draws come from one CPU generator and then move: the same views on a GPU as on the CPU.
        self.generator = torch.Generator().manual_seed(seed)
        self._picked: dict[str, torch.Tensor] = {}

    def _pick(self, name: str, bank: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """bank[rows], copied by index_select into a buffer kept under `name`: cheaper than advanced
        indexing into a fresh tensor every step
        (docs/experiments/2026-11-30-precision-and-cpu-kernels.md#index-select-buffers)."""
        buffer = self._picked.get(name)
        if buffer is None or len(buffer) < len(rows):
            buffer = self._picked[name] = bank.new_empty((len(rows), *bank.shape[1:]))
        return torch.index_select(bank, 0, rows, out=buffer[: len(rows)])

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator).to(self.device)

    def _randint(self, high: int, n: int) -> torch.Tensor:
        return torch.randint(0, high, (n,), generator=self.generator).to(self.device)

    def _uniform(self, n: int, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * self._rand(n)

    def _warp(self, rgba: torch.Tensor, scale: torch.Tensor, mirror: bool = True) -> torch.Tensor:
        """Place each sprite at `scale` of the view, tilted and shifted, via one affine grid sample
        (view-sized output, sampled from the larger sprite)."""
        n = rgba.shape[0]
        angle = self._uniform(n, -MAX_TILT_DEGREES, MAX_TILT_DEGREES) * math.pi / 180
        flip = torch.where(self._rand(n) < 0.5, -1.0, 1.0) if mirror else torch.ones(n, device=self.device)
        slack = (1 - scale).clamp(min=0.05)
        shift_x, shift_y = self._uniform(n, -1, 1) * slack, self._uniform(n, -1, 1) * slack
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        # affine_grid maps output coordinates to input ones: the inverse of the placement.
        theta = torch.stack(
            [
                torch.stack([cos * flip, -sin * flip, -(cos * shift_x - sin * shift_y) * flip], dim=1),
                torch.stack([sin, cos, -(sin * shift_x + cos * shift_y)], dim=1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, [n, rgba.shape[1], self.view_side, self.view_side], align_corners=False)
        return F.grid_sample(rgba, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def __call__(self, idx: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] views in [0, 1] of the products `idx`."""
        n = len(idx)
        background = self._background(n, self.view_side)
        product = self._warp(
            self._pick("sprites", self.sprites, idx.to(self.device)), self._uniform(n, *SCALE_RANGE)
        )
        alpha = product[:, 3:4]
        view = alpha * product[:, :3] + (1 - alpha) * background
        view = self._occlude(view)
        view = self._colour(view)
        return view.clamp(0, 1)

    def _background(self, n: int, size: int) -> torch.Tensor:
        pick = self._randint(len(self.backgrounds), n)
        scenes = self._pick("backgrounds", self.backgrounds, pick)
        angle = self._uniform(n, 0, 2 * math.pi)
        zoom = self._uniform(n, 0.35, 0.8)  # the window's side as a fraction of the scene's
        cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
        shift_x, shift_y = self._uniform(n, -1, 1) * (1 - zoom), self._uniform(n, -1, 1) * (1 - zoom)
        theta = torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)
        grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
        window = F.grid_sample(scenes, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        order = torch.argsort(self._rand(n, 3), dim=1)  # shuffle colour channels
        return torch.gather(window, 1, order.view(n, 3, 1, 1).expand(-1, -1, size, size))

    def _some(self, n: int, rate: float) -> torch.Tensor:
        """Indices of a random `rate` share of n views (each drawn independently)."""
        return torch.nonzero(self._rand(n) < rate).squeeze(1)

    def _occlude(self, view: torch.Tensor) -> torch.Tensor:
        """Another product's silhouette in a flat colour over part of some views."""
        hit = self._some(view.shape[0], OCCLUSION_RATE)
        if not len(hit):
            return view
        # Only the occluded views are warped and blended: half the time of blending every view.
        other = self._pick("silhouettes", self.silhouettes, self._randint(len(self.sprites), len(hit)))
        mask = self._warp(other, self._uniform(len(hit), 0.3, 0.6))
        colour = self._rand(len(hit), 3, 1, 1)
        return view.index_copy(0, hit, mask * colour + (1 - mask) * view[hit])

    def _colour(self, view: torch.Tensor) -> torch.Tensor:
        """White balance, exposure, a tone curve and light falling off across the view, as the
        colour-cast family shifts them."""
        n, side = view.shape[0], view.shape[-1]
        gamma = self._uniform(n, *GAMMA_RANGE).view(n, 1, 1, 1)
        view = view.clamp(min=1e-4) ** gamma
        angle = self._uniform(n, 0, 2 * math.pi).view(n, 1, 1)
        falloff = self._uniform(n, 0, MAX_LIGHT_FALLOFF).view(n, 1, 1)
        ramp = torch.linspace(-0.5, 0.5, side, device=self.device)
        across = ramp.view(1, 1, side) * torch.cos(angle) + ramp.view(1, side, 1) * torch.sin(angle)
        light = (1 + 2 * falloff * across).unsqueeze(1)
        gains = self._uniform(n * 3, 0.85, 1.15).view(n, 3, 1, 1) * self._uniform(n, 0.75, 1.2).view(
            n, 1, 1, 1
        )
        return view * gains * light + self._uniform(n, -0.06, 0.06).view(n, 1, 1, 1)
