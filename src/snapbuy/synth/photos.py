"""Shopper photos: a product sprite photographed "in the wild".

Each transform family can be switched on or off, so training can leave some out and the evaluation
then measures generalisation to transforms the model never saw."""

from __future__ import annotations

import io
import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from snapbuy.synth.backgrounds import natural_background
from snapbuy.synth.camera import lit_unevenly, shrunk_and_enlarged, soft_shadow, tone_curve

FAMILIES = frozenset(
    {
        "clutter",  # busy background: drawn furniture and texture, or a photograph, a natural texture
        "distractors",  # other objects in the scene
        "placement",  # off-centre, 25-80 % of the frame
        "rotation",  # in-plane tilt
        "perspective",  # camera not square to the product
        "colour_cast",  # white balance, exposure, uneven light, tone curve, shadow
        "blur",  # defocus, shrunk and enlarged
        "noise",  # sensor noise
        "jpeg",  # strong compression artefacts
        "occlusion",  # something in front of part of the product
    }
)
# Never used to make training views: the evaluation measures how well the model generalises to them.
HELD_OUT_FROM_TRAINING = frozenset({"perspective", "noise", "jpeg"})
TRAINING_FAMILIES = FAMILIES - HELD_OUT_FROM_TRAINING
# Share of cluttered backgrounds drawn from natural-statistics sources (synth/backgrounds.py).
NATURAL_BACKGROUND_SHARE = 0.5
# EXIF Orientation tag -> the transpose that stores an upright image so that the tag restores it.
SIDEWAYS = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
EXIF_ORIENTATION = 0x0112
Box = tuple[int, int, int, int]


def _colour(rng: random.Random, lo: int = 30, hi: int = 230) -> tuple[int, int, int]:
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


def scene_background(rng: random.Random, size: tuple[int, int], clutter: bool) -> Image.Image:
    """A plain light surface, or (with `clutter`) a busy one: drawn, or from a natural source."""
    if not clutter:
        return Image.new("RGB", size, _colour(rng, 200, 250))
    # Half drawn clutter, half sources with a photograph's statistics: trained on drawn clutter alone,
    # the model learnt to subtract it and failed in front of real scenes
    # (docs/experiments/2026-12-05-generalising-demo.md).
    if rng.random() < NATURAL_BACKGROUND_SHARE:
        return natural_background(rng, size, "training")
    return _drawn_clutter(rng, size)


def _drawn_clutter(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    w, h = size
    img = Image.new("RGB", size, _colour(rng, 60, 220))
    d = ImageDraw.Draw(img)
    horizon = int(h * rng.uniform(0.35, 0.7))
    d.rectangle((0, horizon, w, h), fill=_colour(rng, 40, 200))  # floor or table top
    for _ in range(rng.randint(4, 10)):  # furniture, frames, windows
        x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.1, 0.9) * h
        x1, y1 = x0 + rng.uniform(0.1, 0.5) * w, y0 + rng.uniform(0.1, 0.5) * h
        d.rectangle((x0, y0, x1, y1), fill=_colour(rng))
    for _ in range(rng.randint(6, 16)):  # texture: grain, cables, edges
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        d.line(
            (x0, y0, x0 + rng.uniform(-0.3, 0.3) * w, y0 + rng.uniform(-0.3, 0.3) * h),
            fill=_colour(rng),
            width=max(1, int(min(w, h) * rng.uniform(0.002, 0.01))),
        )
    return img


def _blob(rng: random.Random, span: float) -> Image.Image:
    """A non-product object: a book, a plant pot, keys, a box... as a random simple shape."""
    side = max(8, int(span))
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    kind = rng.randrange(4)
    fill = (*_colour(rng), 255)
    if kind == 0:
        d.rectangle((side * 0.1, side * 0.25, side * 0.9, side * 0.75), fill=fill)
        d.line(
            (side * 0.1, side * 0.5, side * 0.9, side * 0.5),
            fill=(*_colour(rng), 255),
            width=max(1, side // 20),
        )
    elif kind == 1:
        d.ellipse(
            (side * 0.15, side * 0.1, side * 0.85, side * 0.6), fill=(40, 120 + rng.randint(0, 80), 50, 255)
        )
        d.polygon(
            [
                (side * 0.3, side * 0.55),
                (side * 0.7, side * 0.55),
                (side * 0.62, side * 0.95),
                (side * 0.38, side * 0.95),
            ],
            fill=fill,
        )
    elif kind == 2:
        pts = [
            (side / 2 + side * 0.45 * math.cos(a), side / 2 + side * 0.45 * math.sin(a))
            for a in sorted(rng.uniform(0, 2 * math.pi) for _ in range(rng.randint(3, 7)))
        ]
        d.polygon(pts, fill=fill)
    else:
        d.ellipse((0, side * 0.2, side, side * 0.8), fill=fill)
    return img


def _paste(canvas: Image.Image, sprite: Image.Image, centre: tuple[float, float]) -> None:
    x = int(centre[0] - sprite.width / 2)
    y = int(centre[1] - sprite.height / 2)
    canvas.paste(sprite, (x, y), sprite)


def scene_distractors(canvas: Image.Image, rng: random.Random, boxes: list[Box] | None = None) -> None:
    """Paste 2-6 non-product objects onto `canvas`; their boxes are appended to `boxes` when given."""
    w, h = canvas.size
    for _ in range(rng.randint(2, 6)):
        blob = _blob(rng, rng.uniform(0.12, 0.35) * min(w, h))
        centre = (rng.uniform(0, w), rng.uniform(0, h))
        _paste(canvas, blob, centre)
        if boxes is not None:
            boxes.append(_pasted_box(blob, centre, canvas.size))


def _pasted_box(sprite: Image.Image, centre: tuple[float, float], size: tuple[int, int]) -> Box:
    """Where `sprite`'s visible pixels landed when pasted at `centre` (a tilted sprite has transparent
    corners), cut to the photo."""
    x0, y0 = int(centre[0] - sprite.width / 2), int(centre[1] - sprite.height / 2)
    left, top, right, bottom = sprite.getbbox() or (0, 0, sprite.width, sprite.height)
    return (max(0, x0 + left), max(0, y0 + top), min(size[0], x0 + right), min(size[1], y0 + bottom))


def _perspective(rng: random.Random, sprite: Image.Image, strength: float) -> Image.Image:
    w, h = sprite.size
    j = [rng.uniform(-strength, strength) for _ in range(8)]
    # Where each output corner samples from in the input: a mild random quadrilateral.
    quad = (j[0] * w, j[1] * h, j[2] * w, h + j[3] * h, w + j[4] * w, h + j[5] * h, w + j[6] * w, j[7] * h)
    return sprite.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BILINEAR)


def _posed(sprite: Image.Image, rng: random.Random, families: frozenset[str]) -> Image.Image:
    """The product cut from `sprite`, turned as the families say."""
    product = sprite.crop(sprite.getbbox() or (0, 0, sprite.width, sprite.height))
    if "perspective" in families:
        product = _perspective(rng, product, 0.12)
    if "rotation" in families:
        product = product.rotate(rng.uniform(-25, 25), resample=Image.Resampling.BICUBIC, expand=True)
    return product


def _scaled(product: Image.Image, longer_side: float) -> Image.Image:
    scale = longer_side / max(product.size)
    return product.resize(
        (max(1, int(product.width * scale)), max(1, int(product.height * scale))), Image.Resampling.BILINEAR
    )


def scene(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A cluttered scene with distractor objects and no product: a training background."""
    canvas = scene_background(rng, size, clutter=True)
    scene_distractors(canvas, rng)
    return canvas


def shopper_photo(
    sprite: Image.Image,
    rng: random.Random,
    size: tuple[int, int],
    families: frozenset[str] = FAMILIES,
    fraction: tuple[float, float] = (0.25, 0.8),
    distractor_boxes: list[tuple[int, int, int, int]] | None = None,
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Compose an RGB photo of `sprite` (RGBA, product on transparency) with the given families on.
    Also returns the product's box (x0, y0, x1, y1) in the photo, the ground truth for localisation;
    the boxes of the distractor objects drawn are appended to `distractor_boxes` when it is given."""
    w, h = size
    canvas = scene_background(rng, size, "clutter" in families)
    if "distractors" in families:
        scene_distractors(canvas, rng, distractor_boxes)
    product = _posed(sprite, rng, families)
    share = rng.uniform(*fraction) if "placement" in families else 0.6
    product = _scaled(product, share * min(w, h))
    if "placement" in families:
        cx = rng.uniform(product.width / 2, max(product.width / 2 + 1, w - product.width / 2))
        cy = rng.uniform(product.height / 2, max(product.height / 2 + 1, h - product.height / 2))
    else:
        cx, cy = w / 2, h / 2
    _paste(canvas, product, (cx, cy))
    box = _pasted_box(product, (cx, cy), size)
    if "occlusion" in families and rng.random() < 0.5:
        occluder = _blob(rng, 0.55 * max(product.size))
        side = rng.choice((-1, 1))
        _paste(
            canvas, occluder, (cx + side * product.width * 0.5, cy + rng.uniform(-0.3, 0.3) * product.height)
        )
    return photometric(canvas, rng, families), box


def several_products_photo(
    sprites: list[Image.Image],
    rng: random.Random,
    size: tuple[int, int],
    families: frozenset[str] = FAMILIES,
    fraction: tuple[float, float] = (0.25, 0.42),
) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """A photo of several products side by side (a shelf, a table), each `fraction` of the photo's
    shorter side across, placed where it does not overlap the others, and each product's box. Families
    as in shopper_photo (placement is always on; occlusion is left out, it would hide a neighbour)."""
    w, h = size
    canvas = scene_background(rng, size, "clutter" in families)
    if "distractors" in families:
        for _ in range(rng.randint(1, 4)):
            blob = _blob(rng, rng.uniform(0.1, 0.25) * min(w, h))
            _paste(canvas, blob, (rng.uniform(0, w), rng.uniform(0, h)))
    boxes: list[tuple[int, int, int, int]] = []
    for sprite in sprites:
        product = _scaled(_posed(sprite, rng, families), rng.uniform(*fraction) * min(w, h))
        for _ in range(50):  # a free spot; a crowded photo takes the last one tried
            centre = (
                rng.uniform(product.width / 2, max(product.width / 2 + 1, w - product.width / 2)),
                rng.uniform(product.height / 2, max(product.height / 2 + 1, h - product.height / 2)),
            )
            box = _pasted_box(product, centre, size)
            if all(_disjoint(box, other) for other in boxes):
                break
        _paste(canvas, product, centre)
        boxes.append(box)
    return photometric(canvas, rng, families), boxes


def _disjoint(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def photometric(img: Image.Image, rng: random.Random, families: frozenset[str]) -> Image.Image:
    """The light and camera families of `families` applied to a drawn scene."""
    # Kept on uint8 lookup tables and half-resolution noise: a phone-sized photo takes milliseconds.
    if "blur" in families:
        if rng.random() < 0.6:
            img = img.filter(ImageFilter.BoxBlur(rng.uniform(0.3, 1.6) * max(img.size) / 800))
        if rng.random() < 0.3:
            img = shrunk_and_enlarged(img, rng)
    if "colour_cast" in families:
        # Light as phones meet it: uneven, through a tone curve, sometimes shadowed.
        if rng.random() < 0.5:
            img = lit_unevenly(img, rng)
        if rng.random() < 0.5:
            img = tone_curve(img, rng)
        if rng.random() < 0.3:
            img = soft_shadow(img, rng)
        exposure, offset = rng.uniform(0.75, 1.2), rng.uniform(-15, 15)
        lut: list[int] = []
        for _ in range(3):
            gain = rng.uniform(0.85, 1.15) * exposure
            lut += [max(0, min(255, int(v * gain + offset))) for v in range(256)]
        img = img.point(lut)
    if "noise" in families:
        w, h = img.size
        noise_rng = np.random.default_rng(rng.getrandbits(32))
        grain = noise_rng.normal(0, rng.uniform(3, 10), ((h + 1) // 2, (w + 1) // 2, 3)).astype(np.int16)
        grain = grain.repeat(2, axis=0).repeat(2, axis=1)[:h, :w]
        pixels = np.asarray(img, dtype=np.int16) + grain
        img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return img


def phone_size(rng: random.Random) -> tuple[int, int]:
    """Portrait phone photo sizes: 3:4 or 9:16, long side about 1000-1600 px."""
    long_side = rng.randint(1000, 1600)
    ratio = rng.choice((3 / 4, 9 / 16))
    return int(long_side * ratio), long_side


def encode_jpeg(
    img: Image.Image, rng: random.Random, families: frozenset[str], sideways: int | None
) -> bytes:
    """JPEG bytes as a phone writes them; `sideways` (6 or 8) stores the pixels rotated plus the
    EXIF orientation tag that turns them upright again."""
    return jpeg_bytes(img, rng.randint(30, 60) if "jpeg" in families else 90, sideways)


def jpeg_bytes(img: Image.Image, quality: int, sideways: int | None) -> bytes:
    """JPEG bytes at `quality`; `sideways` (6 or 8) stores the pixels rotated plus the EXIF
    orientation tag that turns them upright again."""
    exif = Image.Exif()
    if sideways is not None:
        img = img.transpose(SIDEWAYS[sideways])
        exif[EXIF_ORIENTATION] = sideways
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=quality, exif=exif.tobytes())
    return buffer.getvalue()


def studio_shot(sprite: Image.Image, background: tuple[int, int, int] = (250, 250, 250)) -> Image.Image:
    """The catalog image: product centred on a plain background."""
    shot = Image.new("RGB", sprite.size, background)
    shot.paste(sprite, (0, 0), sprite)
    return shot
