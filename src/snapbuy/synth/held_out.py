"""The held-out evaluation's shopper photos: drawn by a generator that training never uses.

The demo's model was measured on photos from the very generator it was trained for (synth/photos.py),
and did not generalise beyond it: a recall measured that way says how well the model learned its own
generator, not how it will do on a shopper's photo. So this generator draws what training never sees,
and the evaluation reports it separately:

- backgrounds: windows of matplotlib's sample photograph (`held_out_photo`), a source that training
  and model selection never touch (synth/backgrounds.py);
- a whole kind of photo: the catalog image on a display, photographed (`screen`, synth/screen.py);
- camera effects: per-pixel sensor noise (`sensor_noise`), strong JPEG compression (`jpeg`), motion
  blur along a random direction (`motion_blur`) and a product not square to the camera
  (`perspective`).

Every held-out photo carries at least one of those (HELD_OUT_ONLY). It may also carry families that
training does use (SHARED_WITH_TRAINING), so that the report can tell an unseen source apart from
effects the model knows: a plain surface with uneven light (`plain`), uneven light over the photo
(`lighting`), a tone curve (`tone`), a soft shadow (`shadow`), a shrink-and-enlarge (`downscale`),
defocus (`defocus`), a finger over the product's edge (`finger`) and a photo stored on its side
with an EXIF orientation (`sideways`)."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from snapbuy.synth.backgrounds import package_photos, photo_window
from snapbuy.synth.camera import lit_unevenly, shrunk_and_enlarged, soft_shadow, tone_curve
from snapbuy.synth.photos import jpeg_bytes
from snapbuy.synth.screen import screen_photo

Box = tuple[int, int, int, int]

HELD_OUT_ONLY = frozenset({"held_out_photo", "screen", "sensor_noise", "jpeg", "motion_blur", "perspective"})
SHARED_WITH_TRAINING = frozenset(
    {"plain", "lighting", "tone", "shadow", "downscale", "defocus", "finger", "sideways"}
)
HELD_OUT_FAMILIES = HELD_OUT_ONLY | SHARED_WITH_TRAINING
# One scene a photo, with these shares: the product cut out onto a held-out photograph, onto a plain
# surface, or shown on a display (itself in front of a held-out photograph or a plain wall).
SCENE_SHARES = (("held_out_photo", 0.45), ("plain", 0.25), ("screen", 0.30))
SCREEN_ON_HELD_OUT_PHOTO = 0.5
# How often each effect is drawn, independently, in this order (a dict keeps it whatever the hash seed).
EFFECT_RATES = {
    "perspective": 0.4,  # of a cut-out; a screen photo is always in perspective
    "finger": 0.2,
    "shadow": 0.3,
    "lighting": 0.5,
    "tone": 0.5,
    "downscale": 0.2,
    "sensor_noise": 0.45,
    "jpeg": 0.45,
    "sideways": 0.2,
}
# At most one blur a photo: defocus or a shaken phone.
BLUR_RATES = (("defocus", 0.2), ("motion_blur", 0.2))
# A plain-surface cut-out drew none of the held-out families: one of these is added.
FORCED_EFFECTS = ("jpeg", "motion_blur", "perspective", "sensor_noise")
JPEG_QUALITY = (30, 75)
CLEAN_JPEG_QUALITY = 90
# The product's longer side as a share of the photo's shorter side.
PRODUCT_SHARE = (0.25, 0.8)
# Some cut-outs run off the photo's edge by up to this share of their width or height.
OFF_EDGE_RATE = 0.3
MAX_OFF_EDGE = 0.1
MAX_PERSPECTIVE = 0.15  # how far a corner moves, as a share of the product's width or height
PERSPECTIVE_MARGIN = 0.2
# A finger's width as a share of the product's longer side (kept to 5-15 % of the photo's shorter
# side), and how often it reaches in from the photo border nearest to the product.
FINGER_THICKNESS = (0.15, 0.3)
FINGER_FROM_NEAREST_EDGE = 0.7
# Skin tones from light to dark, for the finger.
SKIN_TONES = ((255, 219, 180), (235, 190, 140), (214, 160, 110), (180, 125, 80), (135, 90, 55), (90, 60, 40))


def held_out_families(rng: random.Random) -> frozenset[str]:
    """The families of one held-out photo: its scene, then effects, with at least one HELD_OUT_ONLY."""
    draw, scene = rng.random(), SCENE_SHARES[-1][0]
    for name, share in SCENE_SHARES:
        if draw < share:
            scene = name
            break
        draw -= share
    families = {scene}
    if scene == "screen":
        families |= {"perspective", "held_out_photo" if rng.random() < SCREEN_ON_HELD_OUT_PHOTO else "plain"}
    families |= {name for name, rate in EFFECT_RATES.items() if rng.random() < rate}
    draw = rng.random()
    for name, rate in BLUR_RATES:
        if draw < rate:
            families.add(name)
            break
        draw -= rate
    if not families & HELD_OUT_ONLY:
        choices = [name for name in FORCED_EFFECTS if not (name == "motion_blur" and "defocus" in families)]
        families.add(rng.choice(choices))
    return frozenset(families)


def held_out_photo(
    sprite: Image.Image, studio: Image.Image, rng: random.Random, size: tuple[int, int]
) -> tuple[Image.Image, Box, frozenset[str]]:
    """One held-out shopper photo of `size` (upright RGB) of the product in `sprite` (RGBA, product on
    transparency) and `studio` (its catalog image), the product's box (x0, y0, x1, y1) in it, and the
    families it carries. `sideways` and `jpeg` take effect when encoding (held_out_jpeg)."""
    families = held_out_families(rng)
    background = held_out_background(rng, size) if "held_out_photo" in families else plain_surface(rng, size)
    if "screen" in families:
        photo, box = screen_photo(studio, rng, size, background)
    else:
        photo, box = with_cut_out(background, sprite, rng, "perspective" in families)
    if "finger" in families:
        photo = with_finger(photo, box, rng)
    return with_camera_effects(photo, rng, families), box, families


def held_out_background(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A window of one of the held-out photographs, never seen in training."""
    photos = package_photos("held_out")
    return photo_window(rng, photos[rng.randrange(len(photos))], size)


def plain_surface(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A table top, wall or sheet: one muted colour under uneven light. Drawn small and enlarged: it
    is smooth, and the light's falloff costs a pass over every pixel."""
    grey = rng.uniform(70, 235)
    colour = tuple(round(max(0.0, min(255.0, grey + rng.uniform(-25, 25)))) for _ in range(3))
    small = (max(8, size[0] // 16), max(8, size[1] // 16))
    surface = lit_unevenly(Image.new("RGB", small, colour), rng, strength=0.35)
    return surface.resize(size, Image.Resampling.BILINEAR)


def _in_perspective(product: Image.Image, rng: random.Random) -> Image.Image:
    """The product not square to the camera: each corner of the output samples a moved corner of the
    input (a quad transform). The product gets a transparent margin first, wider than any corner's
    move, so that no part of it is cut off; the result is cropped to what is visible."""
    w, h = product.size
    margin_x, margin_y = math.ceil(PERSPECTIVE_MARGIN * w), math.ceil(PERSPECTIVE_MARGIN * h)
    padded = Image.new("RGBA", (w + 2 * margin_x, h + 2 * margin_y), (0, 0, 0, 0))
    padded.paste(product, (margin_x, margin_y))
    pw, ph = padded.size
    moves = [
        (rng.uniform(-1, 1) * MAX_PERSPECTIVE * w, rng.uniform(-1, 1) * MAX_PERSPECTIVE * h) for _ in range(4)
    ]
    # Top left, bottom left, bottom right, top right: PIL's order for QUAD.
    corners = [(0, 0), (0, ph), (pw, ph), (pw, 0)]
    quad = tuple(v for (x, y), (dx, dy) in zip(corners, moves, strict=True) for v in (x + dx, y + dy))
    turned = padded.transform(padded.size, Image.Transform.QUAD, quad, Image.Resampling.BILINEAR)
    return turned.crop(turned.getchannel("A").getbbox() or (0, 0, pw, ph))


def with_cut_out(
    background: Image.Image, sprite: Image.Image, rng: random.Random, perspective: bool
) -> tuple[Image.Image, Box]:
    """`sprite`'s product pasted on `background`, PRODUCT_SHARE of its shorter side across, anywhere
    fully inside or (OFF_EDGE_RATE of the time) a little over an edge; and its box, cut to the photo."""
    alpha = sprite.getchannel("A")
    product = sprite.crop(alpha.getbbox() or (0, 0, sprite.width, sprite.height))
    if perspective:
        product = _in_perspective(product, rng)
    w, h = background.size
    scale = rng.uniform(*PRODUCT_SHARE) * min(w, h) / max(product.size)
    product = product.resize(
        (max(1, round(product.width * scale)), max(1, round(product.height * scale))),
        Image.Resampling.BILINEAR,
    )
    over = MAX_OFF_EDGE if rng.random() < OFF_EDGE_RATE else 0.0
    x = round(rng.uniform(-over * product.width, w - (1 - over) * product.width))
    y = round(rng.uniform(-over * product.height, h - (1 - over) * product.height))
    photo = background.copy()
    photo.paste(product, (x, y), product)
    left, top, right, bottom = product.getchannel("A").getbbox() or (0, 0, product.width, product.height)
    box = (max(0, x + left), max(0, y + top), min(w, x + right), min(h, y + bottom))
    return photo, box


def with_finger(photo: Image.Image, box: Box, rng: random.Random) -> Image.Image:
    """A finger holding the product: it reaches in from beyond the photo's edge over one of the
    product's edges, its tip (with a nail) a little inside the product."""
    w, h = photo.size
    x0, y0, x1, y1 = box
    thickness = _clamped(
        rng.uniform(*FINGER_THICKNESS) * max(x1 - x0, y1 - y0), 0.05 * min(w, h), 0.15 * min(w, h)
    )
    tip, angle = _fingertip(box, photo.size, rng)
    length = _distance_to_border(tip, angle, photo.size) + thickness  # on past the photo's edge
    finger = _finger_sprite(length, thickness, _skin_tone(rng), rng)
    # The sprite's tip is the middle of its left end; it turns about its centre.
    turned = finger.rotate(-math.degrees(angle), Image.Resampling.BILINEAR, expand=True)
    half = finger.width / 2
    centre = (tip[0] + half * math.cos(angle), tip[1] + half * math.sin(angle))
    result = photo.copy()
    result.paste(turned, (round(centre[0] - turned.width / 2), round(centre[1] - turned.height / 2)), turned)
    return result


def _clamped(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _distance_to_border(point: tuple[float, float], angle: float, size: tuple[int, int]) -> float:
    """How far from `point` (inside the photo) the photo's border is, going in direction `angle`."""
    dx, dy = math.cos(angle), math.sin(angle)
    steps = [
        (size[0] - point[0]) / dx if dx > 1e-9 else math.inf,
        -point[0] / dx if dx < -1e-9 else math.inf,
        (size[1] - point[1]) / dy if dy > 1e-9 else math.inf,
        -point[1] / dy if dy < -1e-9 else math.inf,
    ]
    return max(0.0, min(steps))


def _finger_sprite(
    length: float, thickness: float, skin: tuple[int, int, int], rng: random.Random
) -> Image.Image:
    """A finger lying along x, its rounded tip at the left: RGBA, shaded across its width as a cylinder
    lit from one side, with an oval nail near the tip and a faint crease at the first knuckle. Its
    outline is softened: a finger this close to the lens is out of focus."""
    long, wide = max(2, round(length)), max(4, round(thickness))
    across = np.linspace(-1, 1, wide, dtype=np.float32)
    facing = np.sqrt(np.clip(1 - across**2, 0, 1))  # the surface's normal, towards the camera
    light = rng.uniform(-0.5, 0.5)  # where the light comes from, across the finger
    shade = 0.62 + 0.4 * np.clip(facing * math.cos(light) + across * math.sin(light), 0, 1)
    colour = np.clip(np.array(skin, dtype=np.float32)[None, :] * shade[:, None], 0, 255)
    finger = Image.fromarray(np.broadcast_to(colour[:, None, :], (wide, long, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(finger)
    crease = 1.7 * wide
    if crease < long:
        draw.line(
            (crease, wide * 0.2, crease + wide * 0.05, wide * 0.8),
            fill=_shaded(skin, 0.7),
            width=max(1, wide // 30),
        )
    nail_long, nail_wide = wide * rng.uniform(0.5, 0.65), wide * rng.uniform(0.45, 0.55)
    nail_top = wide / 2 - nail_wide / 2 + light * wide * 0.08
    nail = (wide * 0.1, nail_top, wide * 0.1 + nail_long, nail_top + nail_wide)
    draw.ellipse(nail, fill=tuple(min(255, round(c * 1.02 + 30)) for c in skin), outline=_shaded(skin, 0.85))
    outline = Image.new("L", (long + wide, wide), 0)  # runs on past the sprite: only the tip is round
    ImageDraw.Draw(outline).rounded_rectangle((0, 0, long + wide - 1, wide - 1), wide / 2, fill=255)
    finger.putalpha(outline.crop((0, 0, long, wide)).filter(ImageFilter.GaussianBlur(max(0.8, wide * 0.04))))
    return finger


def _fingertip(box: Box, size: tuple[int, int], rng: random.Random) -> tuple[tuple[float, float], float]:
    """Where the fingertip rests, a little inside one of the box's edges, and the direction (radians)
    from the tip towards the hand: outwards across that edge, give or take 30 degrees. Mostly the edge
    nearest the photo's border, as a hand reaches in from there and does not cross the photo."""
    x0, y0, x1, y1 = box
    w, h = size
    gaps = (x0, w - x1, y0, h - y1)  # from the box's left, right, top and bottom to the photo's border
    side = gaps.index(min(gaps)) if rng.random() < FINGER_FROM_NEAREST_EDGE else rng.randrange(4)
    along, depth = rng.uniform(0.25, 0.75), rng.uniform(0.05, 0.2)
    turn = rng.uniform(-0.5, 0.5)
    if side == 0:
        return (x0 + depth * (x1 - x0), y0 + along * (y1 - y0)), math.pi + turn
    if side == 1:
        return (x1 - depth * (x1 - x0), y0 + along * (y1 - y0)), turn
    if side == 2:
        return (x0 + along * (x1 - x0), y0 + depth * (y1 - y0)), -math.pi / 2 + turn
    return (x0 + along * (x1 - x0), y1 - depth * (y1 - y0)), math.pi / 2 + turn


def _clipped_box(box: tuple[float, float, float, float], size: tuple[int, int]) -> Box:
    return (
        max(0, math.floor(box[0])),
        max(0, math.floor(box[1])),
        min(size[0], math.ceil(box[2])),
        min(size[1], math.ceil(box[3])),
    )


def _skin_tone(rng: random.Random) -> tuple[int, int, int]:
    """A tone between two neighbouring SKIN_TONES."""
    i = rng.randrange(len(SKIN_TONES) - 1)
    t = rng.random()
    (r0, g0, b0), (r1, g1, b1) = SKIN_TONES[i], SKIN_TONES[i + 1]
    return (round(r0 + (r1 - r0) * t), round(g0 + (g1 - g0) * t), round(b0 + (b1 - b0) * t))


def _shaded(skin: tuple[int, int, int], shade: float) -> tuple[int, int, int]:
    r, g, b = (min(255, round(c * shade)) for c in skin)
    return (r, g, b)


def with_camera_effects(photo: Image.Image, rng: random.Random, families: frozenset[str]) -> Image.Image:
    """The families' light and camera effects, in the order light meets the sensor."""
    effects: tuple[tuple[str, Callable[[Image.Image, random.Random], Image.Image]], ...] = (
        ("shadow", soft_shadow),
        ("lighting", lit_unevenly),
        ("tone", tone_curve),
        ("defocus", defocused),
        ("motion_blur", motion_blurred),
        ("downscale", shrunk_and_enlarged),
        ("sensor_noise", with_sensor_noise),
    )
    for family, effect in effects:
        if family in families:
            photo = effect(photo, rng)
    return photo


def defocused(photo: Image.Image, rng: random.Random) -> Image.Image:
    """Out of focus: a Gaussian blur of 1-3 pixels (of a 1200-pixel photo). Done at half resolution
    and enlarged, four times cheaper, the blur hiding what the half resolution loses."""
    w, h = photo.size
    radius = rng.uniform(1.0, 3.0) * max(w, h) / 1200
    small = photo.reduce(2).filter(ImageFilter.GaussianBlur(radius / 2))
    return small.resize((w, h), Image.Resampling.BILINEAR)


def motion_blurred(photo: Image.Image, rng: random.Random) -> Image.Image:
    """A shaken phone: the photo averaged along a line (a line kernel) in a random direction, 0.6-2.5 %
    of the photo's longer side long. Done at half resolution and enlarged, as defocus is, with taps
    about 1.5 pixels apart: the enlarging smooths between them."""
    w, h = photo.size
    small = photo.reduce(2)
    length = rng.uniform(0.006, 0.025) * max(small.size)
    angle = rng.uniform(0, math.pi)
    taps = max(2, round(length / 1.5) + 1)
    offsets = sorted(
        {
            (round(t * length * math.cos(angle)), round(t * length * math.sin(angle)))
            for t in np.linspace(-0.5, 0.5, taps)
        }
    )
    pad = math.ceil(length / 2) + 1
    pixels = np.pad(np.asarray(small, dtype=np.uint16), ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    height, width = small.height, small.width
    total = np.zeros((height, width, 3), dtype=np.uint16)
    for dx, dy in offsets:
        total += pixels[pad + dy : pad + dy + height, pad + dx : pad + dx + width]
    averaged = (total // len(offsets)).astype(np.uint8)
    return Image.fromarray(averaged).resize((w, h), Image.Resampling.BILINEAR)


@functools.cache
def _normal_quantiles() -> np.ndarray:
    """65,536 evenly spaced quantiles of the standard normal distribution: indexing them with uniform
    16-bit integers draws Gaussian noise several times faster than numpy's normal sampler."""
    normal = NormalDist()
    return np.array([normal.inv_cdf((i + 0.5) / 65536) for i in range(65536)], dtype=np.float32)


def _noise_image(noise: np.random.Generator, shape: tuple[int, ...], sigma: float) -> Image.Image:
    """Gaussian noise of `sigma` as an 8-bit image centred on 128 (PIL's add with offset -128 adds it)."""
    table = np.clip(np.round(128 + sigma * _normal_quantiles()), 0, 255).astype(np.uint8)
    return Image.fromarray(table[noise.integers(0, 65536, shape, dtype=np.uint16)])


def with_sensor_noise(photo: Image.Image, rng: random.Random) -> Image.Image:
    """Per-pixel Gaussian sensor noise of a random strength, the same in every channel, plus coarser
    colour (chroma) noise, 2 x 2 pixels a grain, as a phone's demosaicing leaves it. Kept on 8-bit
    images and PIL's saturating add: a phone-sized photo in a few milliseconds."""
    noise = np.random.default_rng(rng.getrandbits(32))
    sigma = rng.uniform(3.0, 14.0)
    chroma = sigma * rng.uniform(0.0, 0.6)
    w, h = photo.size
    grain = _noise_image(noise, (h, w), sigma)
    grain = Image.merge("RGB", (grain, grain, grain))
    if chroma >= 0.5:
        blotches = _noise_image(noise, ((h + 1) // 2, (w + 1) // 2, 3), chroma)
        grain = ImageChops.add(grain, blotches.resize((w, h), Image.Resampling.NEAREST), 1.0, -128)
    return ImageChops.add(photo, grain, 1.0, -128)


def held_out_jpeg(photo: Image.Image, rng: random.Random, families: frozenset[str]) -> tuple[bytes, int]:
    """JPEG bytes of `photo` as a phone writes them, and the EXIF orientation stored: JPEG_QUALITY when
    the photo carries `jpeg` (else CLEAN_JPEG_QUALITY), and when it carries `sideways` the pixels
    stored on their side with the orientation (6 or 8) that turns them upright again."""
    quality = rng.randint(*JPEG_QUALITY) if "jpeg" in families else CLEAN_JPEG_QUALITY
    sideways = rng.choice((6, 8)) if "sideways" in families else None
    return jpeg_bytes(photo, quality, sideways), sideways or 1
