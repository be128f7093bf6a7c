"""Photos of a picture of the product: a print, a catalog page, a poster in a scene.

Shoppers photograph products they see as pictures, not only as objects. In such a photo the product
lies inside a light, flat card of its own (the catalog image's studio background) that itself stands
out from the room. A localiser that has only seen products cut out onto scenes finds the card, or
nothing (docs/experiments/2026-12-05-localiser-pictures.md). These training scenes show the cut-out
product on a card: a light ground with an uneven margin, sometimes a frame and caption lines, upright
or tilted a little, in a scene with the training families' backgrounds, distractors and light.

What the held-out photos of a screen add (synth/screen.py: a display and its bezel, backlight,
moire, glare, perspective) stays out of training: a card is flat, square to the camera and lit by
the room."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from snapbuy.synth.photos import Box, photometric, scene_background, scene_distractors

# The product's longer side as a share of the photo's shorter side: the card around it is larger.
PRODUCT_SHARE = (0.2, 0.6)
# Each side's margin between the product and the card's edge, as a share of the product's longer side.
MARGIN = (0.05, 0.45)
FRAME_RATE = 0.35
FRAME_WIDTH = (0.015, 0.05)  # of the card's longer side
CAPTION_RATE = 0.4
MAX_TILT_DEGREES = 12.0


def _card(product: Image.Image, rng: random.Random) -> tuple[Image.Image, Image.Image]:
    """The product on a light card (opaque RGBA), and a layer of the same size that holds the
    product's own pixels only, so that every later transform can say where the product went."""
    longer = max(product.size)
    left, right, top, bottom = (round(rng.uniform(*MARGIN) * longer) for _ in range(4))
    caption = rng.random() < CAPTION_RATE
    if caption:
        bottom += round(0.25 * longer)
    size = (product.width + left + right, product.height + top + bottom)
    ground = tuple(rng.randint(205, 255) for _ in range(3))
    card = Image.new("RGBA", size, (*ground, 255))
    draw = ImageDraw.Draw(card)
    if caption:  # lines of text under the product, as on a catalog page
        ink = tuple(rng.randint(20, 120) for _ in range(3))
        line_height = max(2, round(0.04 * longer))
        y = top + product.height + round(0.05 * longer)
        for _ in range(rng.randint(1, 3)):
            width = rng.uniform(0.3, 1.0) * (size[0] - left - right)
            draw.rectangle((left, y, left + width, y + line_height), fill=(*ink, 255))
            y += 2 * line_height
    if rng.random() < FRAME_RATE:
        frame = max(1, round(rng.uniform(*FRAME_WIDTH) * max(size)))
        colour = tuple(rng.randint(10, 200) for _ in range(3))
        draw.rectangle((0, 0, size[0] - 1, size[1] - 1), outline=(*colour, 255), width=frame)
        draw.rectangle((frame, frame, size[0] - frame - 1, size[1] - frame - 1), outline=(*ground, 255))
    card.paste(product, (left, top), product)
    only_product = Image.new("RGBA", size, (0, 0, 0, 0))
    only_product.paste(product, (left, top), product)
    return card, only_product


def picture_photo(
    sprite: Image.Image,
    rng: random.Random,
    size: tuple[int, int],
    families: frozenset[str],
    distractor_boxes: list[Box] | None = None,
) -> tuple[Image.Image, Box]:
    """An RGB photo of a picture of `sprite` (RGBA cut-out) on a card, in a scene drawn with
    `families` (as synth.photos.shopper_photo's), and the product's box in the photo."""
    w, h = size
    canvas = scene_background(rng, size, "clutter" in families)
    if "distractors" in families:
        scene_distractors(canvas, rng, distractor_boxes)
    product = sprite.crop(sprite.getbbox() or (0, 0, sprite.width, sprite.height))
    card, only_product = _card(product, rng)
    if "rotation" in families:
        angle = rng.uniform(-MAX_TILT_DEGREES, MAX_TILT_DEGREES)
        card = card.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        only_product = only_product.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    scale = rng.uniform(*PRODUCT_SHARE) * min(w, h) / max(product.size)
    card_size = (max(1, round(card.width * scale)), max(1, round(card.height * scale)))
    card = card.resize(card_size, Image.Resampling.BILINEAR)
    only_product = only_product.resize(card_size, Image.Resampling.BILINEAR)
    # Pixels the product covers at least half of: resampling leaves a faint fringe around it.
    half_covered = only_product.getchannel("A").point(lambda alpha: 255 if alpha >= 128 else 0)
    inner = half_covered.getbbox() or (0, 0, card_size[0], card_size[1])
    # The product lies wholly in the photo; the card around it may run off the edge.
    left = round(rng.uniform(-inner[0], max(-inner[0], w - inner[2])))
    top = round(rng.uniform(-inner[1], max(-inner[1], h - inner[3])))
    canvas.paste(card, (left, top), card)
    box = (
        max(0, left + inner[0]),
        max(0, top + inner[1]),
        min(w, left + inner[2]),
        min(h, top + inner[3]),
    )
    return photometric(canvas, rng, families), box
