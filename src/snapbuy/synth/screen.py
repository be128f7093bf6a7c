"""Photos of a screen: a shopper photographs the product on a monitor, laptop, tablet or phone.

Shoppers often point their phone at a product they saw on another screen. Such a photo carries
artefacts no photo of a real object has, so the held-out evaluation (synth/held_out.py) uses it to
measure how the model copes with a kind of photo that training never draws:

- a dark bezel around the display, standing in a room (the backdrop);
- the catalog image filling the display, letterboxed on the page's colour, with a few interface bars;
- the backlight: a colour tint, a gamma and a raised black level;
- moire, in two parts: broad bands whose colour shifts between channels (the display's grid aliased
  far below the sensor's pitch) lie on the display's surface and bend with its perspective; fine
  stripes a pixel or two apart (the grid near the sensor's Nyquist frequency), whose contrast beats
  slowly, arise where the sensor samples and are drawn in the photo's own pixels, over the screen;
- the display not square to the camera: one projective (quad) transform turns display and bezel;
- glare: a bright, soft, elliptical reflection added over the glass.

The product's box is measured, not guessed: the product's mask (the studio pixels that differ from
the studio's plain corner colour) goes through the same transforms, and the box bounds where it lands.
The display is drawn flat at photo scale and warped once, into the display's part of the photo only:
the warp is the costly step; the moire is kept on 8-bit images and table look-ups."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw

Box = tuple[int, int, int, int]
Point = tuple[float, float]

# A studio pixel is product when one of its channels differs this much from the corner colour.
PRODUCT_TOLERANCE = 12
# The product's longer side as a share of the photo's shorter side, before the display is turned; the
# turn changes it a little, and the result stays within 25-80 %.
PRODUCT_SHARE = (0.3, 0.7)
# The display (bezel included) should not be much larger than the photo: a shopper steps back until
# the product is in view, so at most part of the display is cut by the photo's edge.
MAX_DISPLAY_OVER_PHOTO = 1.1
# Keystone from turning the display about its vertical and horizontal axes, in-plane tilt, and a
# small irregularity of each corner (the lens, a hand-held phone).
MAX_KEYSTONE = 0.16
MAX_TILT_DEGREES = 9.0
MAX_CORNER_JITTER = 0.025
# The room is darker than the backlit display, as the camera exposes for the screen.
ROOM_GAIN = (0.45, 0.95)
# Moire: a display grid near the sensor's Nyquist frequency (0.5 cycles per pixel) samples into fine
# stripes whose contrast beats slowly; its aliases far below Nyquist give broad coloured bands. The
# amplitudes are the largest share of the light each takes away.
FINE_FREQUENCY = (0.4, 0.48)
FINE_AMPLITUDE = (0.05, 0.14)
BAND_PERIOD_PX = (14.0, 70.0)
BAND_AMPLITUDE = (0.03, 0.1)
# The grid's pitch drifts across the display (cycles per pixel, over its width or height).
MAX_CHIRP = 0.03
BAND_SAMPLING = 4  # the broad bands are computed at 1/4 resolution and enlarged
GLARE_SAMPLING = 8  # the glare, smoother still, at 1/8
GLARE_STRENGTH = (0.2, 0.65)


@dataclass(frozen=True)
class DisplayKind:
    """One kind of display: its screen's width / height, bezel width and corner radius, the last two
    as shares of the screen's shorter side."""

    name: str
    aspect: float
    bezel: tuple[float, float]
    corner_radius: float


DISPLAY_KINDS = (
    DisplayKind("monitor", 16 / 9, (0.015, 0.04), 0.01),
    DisplayKind("laptop", 16 / 10, (0.02, 0.05), 0.015),
    DisplayKind("tablet", 3 / 4, (0.05, 0.09), 0.06),
    DisplayKind("phone", 9 / 19.5, (0.035, 0.06), 0.12),
)


@dataclass(frozen=True)
class Layout:
    """Where things lie on the flat display (bezel included), in its pixels."""

    size: tuple[int, int]
    bezel: int
    image_origin: tuple[int, int]  # the studio image's top left
    image_size: tuple[int, int]
    corner_radius: int

    @property
    def screen_box(self) -> Box:
        return (self.bezel, self.bezel, self.size[0] - self.bezel, self.size[1] - self.bezel)


def product_mask(studio: Image.Image) -> np.ndarray:
    """Boolean mask, True where the studio shot differs from its plain corner colour: the product."""
    pixels = np.asarray(studio.convert("RGB"), dtype=np.int16)
    differs: np.ndarray = np.abs(pixels - pixels[0, 0]).max(axis=2) > PRODUCT_TOLERANCE
    return differs


def screen_photo(
    studio: Image.Image, rng: random.Random, size: tuple[int, int], backdrop: Image.Image
) -> tuple[Image.Image, Box]:
    """A photo of `size` of `studio` shown on a display in the room `backdrop`, and the product's box
    (x0, y0, x1, y1) in the photo."""
    mask = product_mask(studio)
    if not mask.any():  # a blank studio shot: count the whole image as the product
        mask = np.ones_like(mask)
    kind = DISPLAY_KINDS[rng.randrange(len(DISPLAY_KINDS))]
    layout = _layout(rng, kind, studio.size, _studio_scale(rng, kind, mask, size))
    flat = _flat_display(studio, layout, rng)
    product_points = _product_points(mask, studio.size, layout)
    corners = _placed_corners(rng, layout, product_points, size)
    to_photo = _homography(_rectangle(layout.size), corners)
    room = backdrop if backdrop.mode == "RGB" else backdrop.convert("RGB")
    photo = _dimmed(room if room.size == size else room.resize(size, Image.Resampling.BILINEAR), rng)
    region = _bounds(_mapped(to_photo, _rectangle(layout.size)), size)
    if region[2] > region[0] and region[3] > region[1]:
        photo.paste(_photographed(photo.crop(region), flat, to_photo, layout, region, rng), region[:2])
    return photo, _bounds(_mapped(to_photo, product_points), size)


def _photographed(
    patch: Image.Image,
    flat: Image.Image,
    to_photo: np.ndarray,
    layout: Layout,
    region: Box,
    rng: random.Random,
) -> Image.Image:
    """The photo's `region` (its pixels in `patch`) with the display warped into it, then what the
    camera adds: the moire's fine stripes over the screen, where the sensor samples its grid, and the
    glare over the glass."""
    # Photo coordinates relative to the region's corner.
    shift = np.array([[1.0, 0.0, -region[0]], [0.0, 1.0, -region[1]], [0.0, 0.0, 1.0]])
    to_patch = shift @ to_photo
    display = _warped(flat, to_patch, patch.size)
    patch.paste(display, (0, 0), display)
    screen = Image.new("L", patch.size, 0)
    x0, y0, x1, y1 = layout.screen_box
    screen_corners = _mapped(to_patch, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    ImageDraw.Draw(screen).polygon([(float(x), float(y)) for x, y in screen_corners], fill=255)
    (ax, ay), (bx, by) = screen_corners[0], screen_corners[1]
    rows_angle = math.atan2(by - ay, bx - ax)  # the display's pixel rows run along its top edge
    patch.paste(_with_fine_moire(patch, rows_angle, rng), (0, 0), screen)
    return _with_glare(patch, display.getchannel("A"), rng)


def _studio_scale(rng: random.Random, kind: DisplayKind, mask: np.ndarray, size: tuple[int, int]) -> float:
    """Photo pixels per studio pixel: the product's longer side a PRODUCT_SHARE of the photo's shorter
    side, unless the display would then be far larger than the photo."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    longer = int(max(rows[-1] - rows[0], columns[-1] - columns[0])) + 1
    wanted = rng.uniform(*PRODUCT_SHARE) * min(size) / longer
    screen_w, screen_h = _screen_size(kind, (mask.shape[1], mask.shape[0]), 1.0)
    bezel = 2 * kind.bezel[1] * min(screen_w, screen_h)
    fits = MAX_DISPLAY_OVER_PHOTO * min(size[0] / (screen_w + bezel), size[1] / (screen_h + bezel))
    smallest = 0.9 * PRODUCT_SHARE[0] * min(size) / longer
    return max(min(wanted, fits), smallest)


def _screen_size(kind: DisplayKind, studio_size: tuple[int, int], scale: float) -> tuple[float, float]:
    """The screen that the studio image, at `scale`, fills in one direction."""
    image_w, image_h = studio_size[0] * scale, studio_size[1] * scale
    if kind.aspect >= image_w / image_h:
        return image_h * kind.aspect, image_h
    return image_w, image_w / kind.aspect


def _layout(rng: random.Random, kind: DisplayKind, studio_size: tuple[int, int], scale: float) -> Layout:
    """The display's size, bezel and corners, and where on it the studio image (at `scale`) lies."""
    screen_w, screen_h = (max(8, round(v)) for v in _screen_size(kind, studio_size, scale))
    image_size = (min(screen_w, round(studio_size[0] * scale)), min(screen_h, round(studio_size[1] * scale)))
    bezel = max(2, round(rng.uniform(*kind.bezel) * min(screen_w, screen_h)))
    # Centred across the screen's free direction, or nearer its top as a shop's product page has it.
    where = 0.5 if rng.random() < 0.5 else rng.uniform(0.1, 0.5)
    origin = (
        bezel + round((screen_w - image_size[0]) * where),
        bezel + round((screen_h - image_size[1]) * where),
    )
    size = (screen_w + 2 * bezel, screen_h + 2 * bezel)
    return Layout(size, bezel, origin, image_size, round(kind.corner_radius * min(size)))


def _flat_display(studio: Image.Image, layout: Layout, rng: random.Random) -> Image.Image:
    """The display seen square on, RGBA (alpha: its rounded outline): the bezel around the backlit
    screen, which carries the moire's broad bands."""
    x0, y0, x1, y1 = layout.screen_box
    page_colour = _page_colour(rng, studio)
    screen = Image.new("RGB", (x1 - x0, y1 - y0), page_colour)
    image_at = (layout.image_origin[0] - x0, layout.image_origin[1] - y0)
    _draw_interface(ImageDraw.Draw(screen), rng, screen.size, layout.image_size, image_at, page_colour)
    screen.paste(studio.convert("RGB").resize(layout.image_size, Image.Resampling.BILINEAR), image_at)
    screen = _with_moire(_backlit(screen, rng), rng)

    shade = rng.randint(8, 45)
    rim = min(255, shade + rng.randint(15, 40))  # the frame's edge catches the room's light
    display = Image.new("RGB", layout.size, (rim, rim, rim))
    width, height = layout.size
    inset = max(1, layout.bezel // 8)
    inner = (inset, inset, width - 1 - inset, height - 1 - inset)
    ImageDraw.Draw(display).rounded_rectangle(
        inner, max(0, layout.corner_radius - inset), fill=(shade, shade, shade + 3)
    )
    display.paste(screen, (x0, y0))
    outline = Image.new("L", layout.size, 0)
    ImageDraw.Draw(outline).rounded_rectangle((0, 0, width - 1, height - 1), layout.corner_radius, fill=255)
    display.putalpha(outline)
    return display


def _page_colour(rng: random.Random, studio: Image.Image) -> tuple[int, int, int]:
    """The colour around the image on the display: the studio's own background (a shop page) most
    of the time, else a dark or light interface."""
    if rng.random() < 0.6:
        red, green, blue = (int(c) for c in np.asarray(studio.convert("RGB"))[0, 0])
        return (red, green, blue)
    grey = rng.choice((rng.randint(10, 40), rng.randint(200, 245)))
    return (grey, grey, min(255, grey + rng.randint(0, 8)))


def _draw_interface(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    screen: tuple[int, int],
    image_size: tuple[int, int],
    image_at: tuple[int, int],
    page: tuple[int, int, int],
) -> None:
    """A few bars of text and a button in the space the image leaves: a shop page, not a bare image."""
    ink = tuple(int(c * 0.5) if sum(page) > 384 else min(255, c + 110) for c in page)
    free = [
        (0, 0, screen[0], image_at[1]),  # above the image
        (0, image_at[1] + image_size[1], screen[0], screen[1]),  # below it
        (0, 0, image_at[0], screen[1]),  # left of it
        (image_at[0] + image_size[0], 0, screen[0], screen[1]),  # right of it
    ]
    line = max(3.0, 0.035 * min(screen))
    for x0, y0, x1, y1 in free:
        width = x1 - x0
        if width < 40 or y1 - y0 < 40:
            continue
        y = y0 + rng.uniform(0.5, 1.5) * line
        while y + 2 * line < y1 and rng.random() < 0.85:
            length = width * rng.uniform(0.3, 0.8)
            draw.rounded_rectangle((x0 + line, y, x0 + line + length, y + line * 0.6), line * 0.3, fill=ink)
            y += line * rng.uniform(1.3, 2.2)
        if y + 2 * line < y1 and rng.random() < 0.5:
            button = (rng.randint(20, 230), rng.randint(20, 230), rng.randint(20, 230))
            draw.rounded_rectangle(
                (x0 + line, y, x0 + line + width * 0.4, y + 1.6 * line), line * 0.5, fill=button
            )


def _backlit(screen: Image.Image, rng: random.Random) -> Image.Image:
    """The display's own rendering: a gamma, a raised black level, a white point and a colour tint."""
    gamma = rng.uniform(0.8, 1.25)
    black, white = rng.uniform(6, 30), rng.uniform(225, 255)
    warmth = rng.uniform(-1, 1)  # a cool (bluish) to warm (yellowish) backlight
    tint = (1 + 0.06 * warmth, 1 - 0.01 * abs(warmth), 1 - 0.08 * warmth)
    table: list[int] = []
    for channel_gain in tint:
        table += [
            max(0, min(255, round((black + (white - black) * (v / 255) ** gamma) * channel_gain)))
            for v in range(256)
        ]
    return screen.point(table)


def _phase_steps(length: int, frequency: float, drift: float, rng: random.Random) -> np.ndarray:
    """A wave's phase along one axis, in 1/256 of a cycle (uint8, so that sums wrap round a cycle for
    free): `frequency` cycles a pixel, drifting by up to `drift` across the axis."""
    at = np.arange(length, dtype=np.float64)
    cycles = frequency * at + 0.5 * drift * at * at / max(length, 1) + rng.random()
    steps: np.ndarray = np.floor(np.mod(cycles, 1.0) * 256).astype(np.uint8)
    return steps


def _grating_darkening(
    shape: tuple[int, int], frequency: float, angle: float, depth: float, rng: random.Random
) -> np.ndarray:
    """How much a plane wave of `frequency` (cycles a pixel) along `angle` darkens each pixel, 0 to
    `depth` (uint8). Its phase at (x, y) is the sum of a phase along x and one along y, added in uint8
    (wrapping round the cycle) and looked up in a table: a byte add and a lookup a pixel, not a cosine."""
    height, width = shape
    drift = rng.uniform(-MAX_CHIRP, MAX_CHIRP)
    along_x = _phase_steps(width, frequency * math.cos(angle), drift, rng)
    along_y = _phase_steps(height, frequency * math.sin(angle), drift, rng)
    table = np.round(depth * (0.5 + 0.5 * np.cos(np.arange(256) * (2 * math.pi / 256)))).astype(np.uint8)
    darkening: np.ndarray = table[along_y[:, None] + along_x[None, :]]
    return darkening


def _with_fine_moire(patch: Image.Image, rows_angle: float, rng: random.Random) -> Image.Image:
    """The display's columns and rows as the sensor samples them: pitches just under the sensor's
    Nyquist frequency (0.5 cycles a pixel), turned a little against the sensor's grid, so that stripes
    a pixel or two apart beat slowly in and out of contrast. The grid only blocks light: the pixels
    darken by up to FINE_AMPLITUDE."""
    shape = (patch.height, patch.width)
    depth = 255 * rng.uniform(*FINE_AMPLITUDE) / 2
    darkening = np.zeros(shape, dtype=np.uint8)
    for direction in (rows_angle, rows_angle + math.pi / 2):
        angle = direction + math.radians(rng.uniform(-3, 3))
        darkening += _grating_darkening(shape, rng.uniform(*FINE_FREQUENCY), angle, depth, rng)
    kept = ImageChops.invert(Image.fromarray(darkening))
    return ImageChops.multiply(patch, Image.merge("RGB", (kept, kept, kept)))


def _colour_bands(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """How much the broad moire bands darken each channel (RGB, 0-255): the grid's far aliases, a
    wave on the display's own surface (the warp bends it with the display) whose phase differs between
    the red, green and blue subpixels. Computed at 1/4 resolution and enlarged: they are smooth."""
    small_w, small_h = max(1, size[0] // BAND_SAMPLING), max(1, size[1] // BAND_SAMPLING)
    period = rng.uniform(*BAND_PERIOD_PX) / BAND_SAMPLING
    angle = rng.uniform(0, math.pi)
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    # The bands bend: their phase grows a little faster on one side.
    bend = rng.uniform(-0.15, 0.15) / max(small_w, small_h)
    along = xs * math.cos(angle) + ys * math.sin(angle)
    phase = 2 * math.pi * (along + bend * along * along) / period + rng.uniform(0, 2 * math.pi)
    spread = rng.uniform(0.6, 2.1)
    darkening = 255 * rng.uniform(*BAND_AMPLITUDE)
    channels = [(0.5 + 0.5 * np.cos(phase + c * spread)) * darkening for c in range(3)]
    bands = Image.fromarray(np.stack(channels, axis=2).astype(np.uint8))
    return bands.resize(size, Image.Resampling.BILINEAR)


def _with_moire(screen: Image.Image, rng: random.Random) -> Image.Image:
    """The screen's light dimmed by the broad moire bands (the grid only blocks light: a gain of at
    most 1), on 8-bit images with PIL's channel arithmetic."""
    return ImageChops.multiply(screen, ImageChops.invert(_colour_bands(screen.size, rng)))


def _with_glare(patch: Image.Image, glass: Image.Image, rng: random.Random) -> Image.Image:
    """A soft, tilted elliptical reflection added where `glass` (L) covers `patch`, computed at 1/8
    resolution; the light saturates at white, as a real highlight does."""
    width, height = patch.size
    small_w, small_h = max(2, width // GLARE_SAMPLING), max(2, height // GLARE_SAMPLING)
    cx, cy = rng.uniform(0.15, 0.85) * small_w, rng.uniform(0.15, 0.85) * small_h
    rx = rng.uniform(0.1, 0.35) * max(small_w, small_h)
    ry = rx * rng.uniform(0.25, 0.8)
    angle = rng.uniform(0, math.pi)
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    u = (xs - cx) * math.cos(angle) + (ys - cy) * math.sin(angle)
    v = (ys - cy) * math.cos(angle) - (xs - cx) * math.sin(angle)
    spot = np.exp(-((u / rx) ** 2 + (v / ry) ** 2)) * (255 * rng.uniform(*GLARE_STRENGTH))
    light = Image.fromarray(spot.astype(np.uint8)).resize(patch.size, Image.Resampling.BILINEAR)
    light = ImageChops.multiply(light, glass)  # none on the room around the display
    return ImageChops.add(patch, Image.merge("RGB", (light, light, light)))


def _product_points(mask: np.ndarray, studio_size: tuple[int, int], layout: Layout) -> np.ndarray:
    """The outer corners of the product's pixels, in the flat display's coordinates ([N, 2]). A
    projective map keeps straight lines, so the mapped pixels' extremes lie among the mapped corners of
    each row's first and last product pixel: a few hundred points stand for the whole mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    first = mask[rows].argmax(axis=1)
    last = mask.shape[1] - 1 - mask[rows, ::-1].argmax(axis=1)
    xs = np.concatenate([first, first, last + 1, last + 1]).astype(np.float64)
    ys = np.concatenate([rows, rows + 1, rows, rows + 1]).astype(np.float64)
    scale_x, scale_y = layout.image_size[0] / studio_size[0], layout.image_size[1] / studio_size[1]
    return np.stack([xs * scale_x + layout.image_origin[0], ys * scale_y + layout.image_origin[1]], axis=1)


def _rectangle(size: tuple[int, int]) -> list[Point]:
    w, h = size
    return [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]


def _turned(points: list[Point], size: tuple[int, int], turn: tuple[float, float, float]) -> list[Point]:
    """`points` of a flat sheet of `size`, centred on the origin and turned: keystone about the vertical
    axis (yaw), about the horizontal one (pitch), then an in-plane tilt."""
    yaw, pitch, tilt = turn
    half_w, half_h = size[0] / 2, size[1] / 2
    cos_t, sin_t = math.cos(tilt), math.sin(tilt)
    turned = []
    for x, y in points:
        u, v = (x - half_w) / half_w, (y - half_h) / half_h
        # The nearer side of a turned display looks taller (or wider), the farther one shorter, and
        # the whole display narrower (or lower) as it turns away.
        tx = (x - half_w) * (1 + pitch * v) * (1 - 0.5 * abs(yaw))
        ty = (y - half_h) * (1 + yaw * u) * (1 - 0.5 * abs(pitch))
        turned.append((tx * cos_t - ty * sin_t, tx * sin_t + ty * cos_t))
    return turned


def _placed_corners(
    rng: random.Random, layout: Layout, product_points: np.ndarray, size: tuple[int, int]
) -> list[Point]:
    """Where the flat display's four corners land in the photo: turned, then shrunk if need be and
    moved so that the whole product lies in the photo, the display near the photo's middle."""
    turn = (
        rng.uniform(-MAX_KEYSTONE, MAX_KEYSTONE),
        rng.uniform(-MAX_KEYSTONE, MAX_KEYSTONE),
        math.radians(rng.uniform(-MAX_TILT_DEGREES, MAX_TILT_DEGREES)),
    )
    jitter = MAX_CORNER_JITTER * min(layout.size)
    corners = [
        (x + rng.uniform(-jitter, jitter), y + rng.uniform(-jitter, jitter))
        for x, y in _turned(_rectangle(layout.size), layout.size, turn)
    ]
    product = _mapped(_homography(_rectangle(layout.size), corners), product_points)
    (low_x, low_y), (high_x, high_y) = product.min(axis=0), product.max(axis=0)
    shrink = min(1.0, 0.95 * size[0] / (high_x - low_x), 0.95 * size[1] / (high_y - low_y))
    low_x, low_y, high_x, high_y = (v * shrink for v in (low_x, low_y, high_x, high_y))
    dx = _clamped(size[0] * rng.uniform(0.38, 0.62), -low_x, size[0] - high_x)
    dy = _clamped(size[1] * rng.uniform(0.38, 0.62), -low_y, size[1] - high_y)
    return [(x * shrink + dx, y * shrink + dy) for x, y in corners]


def _clamped(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _homography(source: list[Point], target: list[Point]) -> np.ndarray:
    """The 3 x 3 projective map taking the four `source` points to the four `target` points."""
    rows, values = [], []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values += [u, v]
    solution = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(values, dtype=np.float64))
    return np.append(solution, 1.0).reshape(3, 3)


def _mapped(matrix: np.ndarray, points: np.ndarray | list[Point]) -> np.ndarray:
    """`points` ([N, 2]) through the projective `matrix`."""
    xy = np.asarray(points, dtype=np.float64)
    mapped = np.column_stack([xy, np.ones(len(xy))]) @ matrix.T
    result: np.ndarray = mapped[:, :2] / mapped[:, 2:3]
    return result


def _bounds(points: np.ndarray, size: tuple[int, int]) -> Box:
    """The pixel box holding `points`, cut to the photo."""
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return (
        max(0, math.floor(x0)),
        max(0, math.floor(y0)),
        min(size[0], math.ceil(x1)),
        min(size[1], math.ceil(y1)),
    )


def _warped(flat: Image.Image, to_patch: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """`flat` through the projective map `to_patch`, into an RGBA image of `size`."""
    # PIL asks, for each output pixel, where to sample: the inverse map.
    to_flat = np.linalg.inv(to_patch)
    to_flat /= to_flat[2, 2]
    coefficients = tuple(float(c) for c in to_flat.flatten()[:8])
    return flat.transform(size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR)


def _dimmed(room: Image.Image, rng: random.Random) -> Image.Image:
    gain = rng.uniform(*ROOM_GAIN)
    return room.point([min(255, round(v * gain)) for v in range(256)] * 3)
