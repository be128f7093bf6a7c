"""Safe decoding of untrusted images (shopper photos, catalog files) into upright 8-bit RGB.

The format is decided from the bytes, never from a filename or Content-Type, and the pixel
limit is checked from the header before any pixel data is decoded. Image bytes are personal
data: nothing here logs or stores them.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps

from snapbuy.errors import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    TooManyPixelsError,
    UnsupportedImageError,
)

ACCEPTED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "HEIF"})
# Limits for the shop's own files (catalog images, evaluation photos): generous, unlike uploads,
# but still a guard against a stray huge or bomb file.
LOCAL_FILE_MAX_BYTES = 50 * 1024 * 1024
LOCAL_FILE_MAX_PIXELS = 100_000_000

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"})
_MB = 1024 * 1024
_WHITE = (255, 255, 255, 255)
# About this many pixels are converted at a time while shrinking a decoded image: the conversions
# (alpha onto white, 16 to 8 bits) make up to four copies of what they convert, so they work on
# strips of rows (a few MB each) rather than on a second, third and fourth full-size raster.
_STRIP_PIXELS = 1 << 20


def sniff_format(data: bytes) -> str | None:
    """Return the PIL format name for `data` judged from its magic bytes only, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


@functools.cache
def heif_available() -> bool:
    """True when pillow-heif is installed; registers its PIL opener on first call only."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """Canvas size from a WebP header. PIL's WebP plugin allocates the canvas while opening,
    so this is the only way to apply our pixel limit before that allocation."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise TooManyPixelsError(
            f"image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}"
        )


def _open(data: bytes, fmt: str) -> ImageFile.ImageFile:
    """Image.open restricted to `fmt`, with PIL's global bomb limit kept out of the way: the
    caller applies our own max_pixels, which may be higher or lower than PIL's."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError:
        # Above 2 * MAX_IMAGE_PIXELS Image.open raises before we can see the size. The plugin
        # itself only parses the header, so call it directly instead of touching the global.
        factory, _accept = Image.OPEN[fmt]
        return factory(io.BytesIO(data), "")


# EXIF Orientation values that turn the picture a quarter (its width and height swap when upright).
_QUARTER_TURNS = (5, 6, 7, 8)


def upright_size(path: Path) -> tuple[int, int]:
    """The size of the image file at `path` once its EXIF Orientation is applied, as decode_image
    returns it at full size, read from the header alone; a broken EXIF block counts as none."""
    with Image.open(path) as img:
        width, height = img.size
        try:
            turned = img.getexif().get(ExifTags.Base.Orientation, 1) in _QUARTER_TURNS
        except Exception:
            turned = False
    return (height, width) if turned else (width, height)


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF Orientation tag; a broken EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:
        return img


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode.startswith("I"):
        # 16-bit grayscale: scale to 8 bits (a plain convert would clip everything above 255),
        # keeping a PNG tRNS colour key, which PIL's conversions drop, as real alpha.
        gray = np.clip(np.asarray(img.convert("I")), 0, 0xFFFF)
        key = img.info.get("transparency")
        alpha = np.where(gray == key, 0, 255) if isinstance(key, int) else np.full_like(gray, 255)
        img = Image.merge(
            "LA", [Image.fromarray((gray >> 8).astype(np.uint8)), Image.fromarray(alpha.astype(np.uint8))]
        )
    if img.has_transparency_data:
        # Catalog product shots often have transparent backgrounds: show them on white.
        white = Image.new("RGBA", img.size, _WHITE)
        return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")


def _draft_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size of `size` scaled so that its longer side is `max_side` (rounded up): JPEG's draft
    decodes at the smallest 1/1, 1/2, 1/4 or 1/8 scale that is at least this big."""
    longer = max(size)
    return tuple(max(1, -(-side * max_side // longer)) for side in size)  # type: ignore[return-value]


def _shrunk_rgb(img: Image.Image, max_side: int, exact: bool = True) -> Image.Image:
    """`img` as RGB with its longer side at most `max_side` (`exact`) or at least `max_side` and under
    twice that (not `exact`), never holding a second full-size copy: strips of rows are converted
    (alpha onto white first, so transparent pixels' hidden colours never blend in) and box-reduced by
    a whole factor one at a time; then, if `exact`, the small result is resized to `max_side`."""
    longer = max(img.size)
    if longer <= max_side:
        return _to_rgb(img)
    factor = longer // max_side
    if factor < 2:
        small = _to_rgb(img)
    else:
        small = Image.new("RGB", (-(-img.width // factor), -(-img.height // factor)))
        rows = max(1, _STRIP_PIXELS // img.width // factor) * factor  # whole reduce boxes
        for top in range(0, img.height, rows):
            strip = _to_rgb(img.crop((0, top, img.width, min(img.height, top + rows))))
            small.paste(strip.reduce(factor), (0, top // factor))
    small.info = dict(img.info)  # keeps the EXIF block: orientation is applied afterwards
    if exact:
        small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return small


def decode_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    max_side: int | None = None,
    detail_side: int | None = None,
    max_full_decode_pixels: int | None = None,
    draft_short_side: int | None = None,
) -> Image.Image:
    """Decode untrusted image bytes to an upright RGB image, or raise an ImageError subclass.

    With `draft_short_side` (and no `max_side`), a JPEG decodes at the smallest 1/2, 1/4 or 1/8 scale
    whose shorter side is still at least that many pixels, and is not shrunk further: a model that
    resizes the shorter side to its input size loses nothing, and the decode costs a fraction.

    With `max_side`, the result's longer side is at most `max_side` and the decoder never needs much
    more memory than the decoded raster: JPEG decodes at a reduced scale (1/2, 1/4 or 1/8) no smaller
    than that; other formats (PNG, WebP, HEIC) decode at full size and are shrunk before any
    conversion. Their full raster (4 bytes a pixel) is what such a decode costs, so
    `max_full_decode_pixels` caps their size separately (checked from the header, before decoding).

    `detail_side` is `max_side` without the last, exact resize: the result keeps at least that many
    pixels on its longer side (if the image has them) and fewer than twice that, shrunk only by whole
    factors (the JPEG scale, a box filter). An exact resize of a phone photo costs more than the rest
    of a search (docs/experiments/2026-12-05-query-throughput.md#the-uploads-size); what uses the
    photo shrinks its own crops."""
    if max_side is not None and detail_side is not None:
        raise ValueError("decode_image takes max_side or detail_side, not both")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"image is {len(data) / _MB:.1f} MB; the limit is {max_bytes / _MB:.1f} MB")
    if not data:
        raise UnsupportedImageError("image data is empty")
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedImageError("not an accepted image format; accepted: JPEG, PNG, WebP, HEIC")
    if fmt == "HEIF" and not heif_available():
        raise UnsupportedImageError("HEIC/HEIF images need the optional package: pip install pillow-heif")
    if fmt == "WEBP" and (size := _webp_size(data)) is not None:
        _check_pixels(size, max_pixels)
    try:
        img = _open(data, fmt)
    except Image.DecompressionBombError as exc:
        # Only reachable when our max_pixels is above PIL's hard limit and the plugin checks it itself.
        raise TooManyPixelsError(f"image exceeds Pillow's hard limit on pixels: {exc}") from exc
    except Exception as exc:
        raise CorruptImageError(f"cannot read the {fmt} image: invalid or unsupported file") from exc
    with img:
        if img.format != fmt:
            raise CorruptImageError(f"content is {img.format}, but its signature says {fmt}")
        _check_pixels(img.size, max_pixels)
        if max_full_decode_pixels is not None and fmt != "JPEG":
            _check_full_decode(img.size, fmt, max_full_decode_pixels, max_pixels)
        side = max_side if max_side is not None else detail_side
        if side is not None and fmt == "JPEG":
            img.draft("RGB", _draft_size(img.size, side))
        elif draft_short_side is not None and fmt == "JPEG":
            longer_side = -(-max(img.size) * draft_short_side // min(img.size))  # rounded up
            img.draft("RGB", _draft_size(img.size, longer_side))
        # Animated files: Image.open is positioned on the first frame, which is all we decode.
        try:
            img.load()
        except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, EOFError, ...
            raise CorruptImageError("image data is truncated or corrupt") from exc
        try:
            if side is None:
                return _to_rgb(_upright(img))
            return _upright(_shrunk_rgb(img, side, exact=max_side is not None))
        except Exception as exc:
            raise CorruptImageError(f"cannot convert the {img.mode} image to RGB") from exc


def _check_full_decode(size: tuple[int, int], fmt: str, limit: int, jpeg_limit: int) -> None:
    width, height = size
    if width * height > limit:
        raise TooManyPixelsError(
            f"a {fmt} image is decoded at full size, and this one is {width}x{height} = {width * height:,} "
            f"pixels; the limit for PNG, WebP and HEIC photos is {limit:,} (JPEG photos may have up to "
            f"{jpeg_limit:,})"
        )


def read_local_image(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file at `path`, at most `max_bytes` of them, or an ImageError.

    Only a regular file is read: a FIFO, a device such as /dev/zero, a directory or a socket is
    refused as "not a regular file" without reading from it. The file is opened non-blocking (so
    opening a FIFO with no writer returns at once) and judged by fstat of that open file, so what is
    checked is what is read. The size is checked from fstat before reading, and the read itself is
    bounded too, in case the file grows in between."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # what open() says of a Unix socket
            raise ImageError(f"{path}: not a regular file") from exc
        raise ImageError(f"{path}: cannot read image file: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(f"{path}: not a regular file")
        if info.st_size > max_bytes:
            raise _file_too_large(path, info.st_size, max_bytes)
        with open(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read image file: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise _file_too_large(path, len(data), max_bytes)
    return data


def _file_too_large(path: Path, size: int, max_bytes: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{path}: too large: file is {size / _MB:.1f} MB; the limit is {max_bytes / _MB:.1f} MB"
    )


def load_image_file(
    path: Path, *, max_bytes: int, max_pixels: int, detail_side: int | None = None
) -> Image.Image:
    """Read (see read_local_image) and decode an image file, to `detail_side` as decode_image takes
    it; errors name the file and keep decode_image's classes."""
    data = read_local_image(path, max_bytes)
    try:
        return decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels, detail_side=detail_side)
    except ImageError as exc:
        raise type(exc)(f"{path}: {exc.message}") from exc
