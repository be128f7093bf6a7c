"""Tests for snapbuy.imaging: every image is built in memory, nothing touches the network."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin

from snapbuy import imaging
from snapbuy.errors import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    TooManyPixelsError,
    UnsupportedImageError,
)
from snapbuy.imaging import decode_image, load_image_file, sniff_format

MB = 1024 * 1024
LIMITS = {"max_bytes": 10 * MB, "max_pixels": 40_000_000}


@pytest.fixture(autouse=True)
def _warnings_are_errors() -> Iterator[None]:
    """decode_image must not leak PIL's DecompressionBombWarning (or anything else) to callers."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def noise(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def upright_blocks() -> Image.Image:
    """Asymmetric 64x32 image made of flat blocks (so JPEG keeps it close to exact)."""
    arr = np.zeros((32, 64, 3), dtype=np.uint8)
    arr[:16, :32] = (255, 0, 0)
    arr[:16, 32:] = (0, 255, 0)
    arr[16:, :32] = (0, 0, 255)
    arr[16:, 32:] = (255, 255, 0)
    arr[:16, :16] = (255, 255, 255)  # breaks the remaining mirror symmetry
    return Image.fromarray(arr)


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit all-zero PNG: huge declared size, a few KB on disk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(bytes((1 + (width + 7) // 8) * height), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("fmt", "kwargs"),
    [("JPEG", {"quality": 90}), ("PNG", {}), ("WEBP", {"quality": 90}), ("WEBP", {"lossless": True})],
)
def test_decodes_common_formats_to_rgb(fmt: str, kwargs: dict[str, object]) -> None:
    src = noise(37, 23)
    out = decode_image(encode(src, fmt, **kwargs), **LIMITS)
    assert out.mode == "RGB"
    assert out.size == (37, 23)
    if fmt == "PNG" or kwargs.get("lossless"):
        assert np.array_equal(np.asarray(out), np.asarray(src))


def test_text_named_jpg_is_unsupported(tmp_path: Path) -> None:
    fake = tmp_path / "photo.jpg"
    fake.write_text("definitely not a photo\n")
    with pytest.raises(UnsupportedImageError, match="accepted: JPEG, PNG, WebP, HEIC"):
        decode_image(fake.read_bytes(), **LIMITS)
    with pytest.raises(UnsupportedImageError, match=r"photo\.jpg"):
        load_image_file(fake, **LIMITS)


def test_empty_bytes_are_unsupported() -> None:
    with pytest.raises(UnsupportedImageError):
        decode_image(b"", **LIMITS)


def test_too_many_bytes() -> None:
    with pytest.raises(ImageTooLargeError, match=r"15\.0 MB.*10\.0 MB") as info:
        decode_image(b"\xff\xd8\xff" + bytes(15 * MB), **LIMITS)
    assert info.value.http_status == 413


@pytest.mark.parametrize("side", [20_000, 10_000])  # above 2x and between 1x-2x PIL's default limit
def test_png_bomb_is_refused_before_decoding(side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = png_bomb(side, side)
    assert len(bomb) < 100_000
    decoded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def load_and_record(image: ImageFile.ImageFile) -> object:
        decoded.append(image.size)
        return real_load(image)

    # ImageFile.load is where Pillow allocates the pixels and runs the decoder.
    monkeypatch.setattr(ImageFile.ImageFile, "load", load_and_record)
    with pytest.raises(TooManyPixelsError, match=f"{side}x{side}") as info:
        decode_image(bomb, **LIMITS)
    assert decoded == []  # refused from the header: no pixel was allocated or decoded
    assert info.value.http_status == 413
    assert decode_image(png_bomb(64, 48), **LIMITS).size == (64, 48)
    assert (64, 48) in decoded  # the same path does decode an image within the limit


def test_our_pixel_limit_applies_in_both_directions(monkeypatch: pytest.MonkeyPatch) -> None:
    # Shrink PIL's global limit for this test only, so small images stand in for huge ones.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for size in [(12, 12), (64, 48)]:  # PIL would warn at 144 px and raise at 3072 px
        for fmt in ["PNG", "JPEG"]:
            out = decode_image(encode(noise(*size), fmt), max_bytes=MB, max_pixels=10_000)
            assert out.size == size
    assert decode_image(encode(noise(12, 12), "WEBP"), max_bytes=MB, max_pixels=10_000).size == (12, 12)
    monkeypatch.undo()
    with pytest.raises(TooManyPixelsError):
        decode_image(encode(noise(64, 48), "PNG"), max_bytes=MB, max_pixels=64 * 48 - 1)
    with pytest.raises(TooManyPixelsError):
        decode_image(encode(noise(64, 48), "WEBP"), max_bytes=MB, max_pixels=1000)


def test_webp_pixels_checked_before_pil_opens_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # PIL's WebP plugin allocates the whole canvas while opening, so we must refuse first.
    src = noise(64, 48)
    animated = encode(src, "WEBP", save_all=True, append_images=[src.rotate(90)])
    for data in [encode(src, "WEBP"), encode(src, "WEBP", lossless=True), animated]:
        assert imaging._webp_size(data) == (64, 48)

    def no_open(*args: object, **kwargs: object) -> object:
        raise AssertionError("PIL opened the oversized WebP")

    monkeypatch.setattr(imaging, "_open", no_open)
    for data in [encode(src, "WEBP"), encode(src, "WEBP", lossless=True), animated]:
        with pytest.raises(TooManyPixelsError):
            decode_image(data, max_bytes=MB, max_pixels=1000)


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(noise(), "JPEG", quality=90)
    with pytest.raises(CorruptImageError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2], **LIMITS)


def test_png_corrupted_in_the_middle() -> None:
    data = bytearray(encode(noise(), "PNG"))
    mid = len(data) // 2
    data[mid : mid + 64] = b"\xff" * 64
    with pytest.raises(CorruptImageError):
        decode_image(bytes(data), **LIMITS)


@pytest.mark.parametrize(
    "data", [b"\x89PNG\r\n\x1a\n" + bytes(100), b"RIFF\0\0\0\0WEBPjunk", b"\xff\xd8\xffjunk"]
)
def test_right_signature_wrong_content_is_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptImageError):
        decode_image(data, **LIMITS)


# (orientation, how the camera stored the upright picture)
ORIENTATIONS = [
    (3, Image.Transpose.ROTATE_180),
    (6, Image.Transpose.ROTATE_90),
    (8, Image.Transpose.ROTATE_270),
]


@pytest.mark.parametrize(("orientation", "stored_as"), ORIENTATIONS)
def test_exif_orientation_png_exact(orientation: int, stored_as: Image.Transpose) -> None:
    upright = upright_blocks()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(upright.transpose(stored_as), "PNG", exif=exif.tobytes())
    assert np.array_equal(np.asarray(decode_image(data, **LIMITS)), np.asarray(upright))


@pytest.mark.parametrize(("orientation", "stored_as"), ORIENTATIONS)
def test_exif_orientation_jpeg_close(orientation: int, stored_as: Image.Transpose) -> None:
    upright = upright_blocks()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(upright.transpose(stored_as), "JPEG", quality=95, exif=exif.tobytes())
    out = decode_image(data, **LIMITS)
    assert out.size == upright.size
    diff = np.abs(np.asarray(out, dtype=np.int16) - np.asarray(upright, dtype=np.int16))
    assert diff.mean() < 4


def test_broken_exif_falls_back_to_stored_image(monkeypatch: pytest.MonkeyPatch) -> None:
    src = upright_blocks()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL warns about the garbage EXIF block
        out = decode_image(encode(src, "PNG", exif=b"Exif\0\0MM\0*garbage"), **LIMITS)
    assert np.array_equal(np.asarray(out), np.asarray(src))

    def explode(*args: object, **kwargs: object) -> Image.Image:
        raise SyntaxError("bad EXIF")

    monkeypatch.setattr(ImageOps, "exif_transpose", explode)
    out = decode_image(encode(src, "PNG"), **LIMITS)
    assert np.array_equal(np.asarray(out), np.asarray(src))


def test_transparency_becomes_white() -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # opaque red
    rgba[:, 4:6] = (10, 20, 30, 0)  # fully transparent
    rgba[:, 6:] = (0, 0, 0, 128)  # half-transparent black
    for fmt in ["PNG", "WEBP"]:
        out = np.asarray(decode_image(encode(Image.fromarray(rgba), fmt, lossless=True), **LIMITS))
        assert (out[:, :4] == (255, 0, 0)).all()
        assert (out[:, 4:6] == 255).all()
        assert (np.abs(out[:, 6:].astype(int) - 127) <= 2).all()

    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 0, 0, 0, 255, 0])
    pal.putpixel((0, 0), 1)
    out = np.asarray(decode_image(encode(pal, "PNG", transparency=0), **LIMITS))
    assert tuple(out[0, 0]) == (0, 255, 0)
    assert (out.reshape(-1, 3)[1:] == 255).all()

    la = Image.merge("LA", [Image.new("L", (4, 4), 0), Image.new("L", (4, 4), 0)])
    assert (np.asarray(decode_image(encode(la, "PNG"), **LIMITS)) == 255).all()


def test_other_modes_end_as_8bit_rgb() -> None:
    gray16 = Image.fromarray(np.full((4, 4), 0x8000, dtype=np.uint16))
    out = decode_image(encode(gray16, "PNG"), **LIMITS)
    assert out.mode == "RGB"
    assert (np.asarray(out) == 128).all()  # scaled, not clipped to 255

    keyed = np.full((4, 4), 0x8000, dtype=np.uint16)
    keyed[0, 0] = 0x1234  # tRNS colour key: this pixel is transparent
    arr = np.asarray(decode_image(encode(Image.fromarray(keyed), "PNG", transparency=0x1234), **LIMITS))
    assert tuple(arr[0, 0]) == (255, 255, 255)
    assert (arr.reshape(-1, 3)[1:] == 128).all()

    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red
    out = decode_image(encode(cmyk, "JPEG", quality=95), **LIMITS)
    assert out.mode == "RGB"
    assert np.abs(np.asarray(out, dtype=int) - (255, 0, 0)).max() < 10

    gray = Image.new("L", (16, 16), 77)
    out = decode_image(encode(gray, "JPEG"), **LIMITS)
    assert out.mode == "RGB"
    assert (np.abs(np.asarray(out, dtype=int) - 77) <= 1).all()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_uses_first_frame(fmt: str) -> None:
    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    data = encode(red, fmt, save_all=True, append_images=[blue], lossless=True)
    assert Image.open(io.BytesIO(data)).n_frames == 2  # type: ignore[attr-defined]
    assert (np.asarray(decode_image(data, **LIMITS)) == (255, 0, 0)).all()


def test_heif_round_trip() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    src = upright_blocks()
    buf = io.BytesIO()
    pillow_heif.from_pillow(src).save(buf, quality=95)
    assert sniff_format(buf.getvalue()) == "HEIF"
    out = decode_image(buf.getvalue(), **LIMITS)
    assert (out.mode, out.size) == ("RGB", src.size)
    diff = np.abs(np.asarray(out, dtype=np.int16) - np.asarray(src, dtype=np.int16))
    assert diff.mean() < 6


def test_heif_without_pillow_heif(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imaging, "heif_available", lambda: False)
    with pytest.raises(UnsupportedImageError, match="pip install pillow-heif"):
        decode_image(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", **LIMITS)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "JPEG"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "PNG"),
        (b"RIFF\x24\0\0\0WEBPVP8 ", "WEBP"),
        (b"\0\0\0\x18ftypheic\0\0\0\0", "HEIF"),
        (b"\0\0\0\x1cftypmif1\0\0\0\0", "HEIF"),
        (b"\0\0\0\x1cftypmsf1\0\0\0\0", "HEIF"),
        (b"\0\0\0\x1cftypisom\0\0\0\0", None),  # MP4 video
        (b"RIFF\x24\0\0\0WAVEfmt ", None),
        (b"GIF89a\x01\0\x01\0", None),
        (b"BM\0\0", None),
        (b"%PDF-1.7", None),
        (b"\xff\xd8", None),
        (b"", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
    ],
)
def test_sniff_format(data: bytes, expected: str | None) -> None:
    assert sniff_format(data) == expected
    assert expected is None or expected in imaging.ACCEPTED_FORMATS


def test_load_image_file(tmp_path: Path) -> None:
    path = tmp_path / "shot.webp"
    path.write_bytes(encode(noise(30, 20), "WEBP"))
    assert load_image_file(path, **LIMITS).size == (30, 20)
    assert load_image_file(path, **LIMITS, detail_side=15).size == (15, 10)  # halved: a whole factor

    missing = tmp_path / "nope.jpg"
    with pytest.raises(ImageError, match=r"nope\.jpg") as info:
        load_image_file(missing, **LIMITS)
    assert type(info.value) is ImageError

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(20_000, 20_000))
    with pytest.raises(TooManyPixelsError, match=r"bomb\.png: image is 20000x20000"):
        load_image_file(bomb, **LIMITS)


def test_load_image_file_checks_size_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as fh:
        fh.truncate(200 * MB)  # sparse: stat says 200 MB without writing it

    def no_reading(*args: object, **kwargs: object) -> object:
        raise AssertionError("file was opened for reading")

    monkeypatch.setattr(Path, "open", no_reading)
    with pytest.raises(ImageTooLargeError, match=r"huge\.jpg.*200\.0 MB"):
        load_image_file(huge, **LIMITS)


def test_pil_globals_unchanged() -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    decode_image(encode(noise(), "PNG"), **LIMITS)
    data = encode(noise(), "JPEG")
    for bad in [png_bomb(20_000, 20_000), png_bomb(10_000, 10_000), data[: len(data) // 2]]:
        with pytest.raises(ImageError):
            decode_image(bad, **LIMITS)
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


# --- decoding straight to the size the caller needs (max_side) -----------------------------------


def big_blocks(scale: int) -> Image.Image:
    """upright_blocks scaled up `scale` times: flat blocks, so any sane shrink keeps their colours."""
    return upright_blocks().resize((64 * scale, 32 * scale), Image.Resampling.NEAREST)


def block_colours(img: Image.Image) -> np.ndarray:
    """The colour at the centre of each of upright_blocks' blocks, in `img`'s own scale."""
    arr = np.asarray(img, dtype=np.int16)
    h, w = arr.shape[:2]
    points = [(0.125, 0.25), (0.375, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]  # (x, y) fractions
    return np.stack([arr[int(y * h), int(x * w)] for x, y in points])


@pytest.mark.parametrize(
    ("fmt", "kwargs"),
    [("JPEG", {"quality": 95}), ("PNG", {}), ("WEBP", {"lossless": True})],
)
@pytest.mark.parametrize(("orientation", "stored_as"), [(1, None), *ORIENTATIONS])
def test_max_side_shrinks_keeping_orientation(
    fmt: str, kwargs: dict[str, object], orientation: int, stored_as: Image.Transpose | None
) -> None:
    upright = big_blocks(40)  # 2560x1280
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = upright if stored_as is None else upright.transpose(stored_as)
    data = encode(stored, fmt, exif=exif.tobytes(), **kwargs)
    out = decode_image(data, **LIMITS, max_side=300)
    assert out.mode == "RGB"
    assert max(out.size) <= 300 * 2  # the contract; in fact exactly the longer side asked for
    assert max(out.size) == 300 and abs(out.width / out.height - 2) < 0.02  # upright: landscape 2:1
    assert np.abs(block_colours(out) - block_colours(upright)).max() < 12


def test_max_side_leaves_small_images_as_they_are() -> None:
    src = upright_blocks()
    data = encode(src, "PNG")
    assert np.array_equal(np.asarray(decode_image(data, **LIMITS, max_side=64)), np.asarray(src))
    assert np.array_equal(np.asarray(decode_image(data, **LIMITS, max_side=1000)), np.asarray(src))


@pytest.mark.parametrize(
    ("short_side", "expected"),
    [(300, (640, 320)), (320, (640, 320)), (321, (1280, 640)), (2000, (2560, 1280))],
)
def test_draft_short_side_keeps_at_least_that_many_pixels_across(
    short_side: int, expected: tuple[int, int]
) -> None:
    upright = big_blocks(40)  # 2560x1280: JPEG scales 1/2, 1/4 and 1/8 keep 640, 320 and 160 rows
    out = decode_image(encode(upright, "JPEG", quality=95), **LIMITS, draft_short_side=short_side)
    assert out.size == expected and out.mode == "RGB"
    assert np.abs(block_colours(out) - block_colours(upright)).max() < 12
    png = decode_image(encode(upright, "PNG"), **LIMITS, draft_short_side=300)
    assert png.size == upright.size  # other formats decode whole and are not shrunk


def test_jpeg_is_decoded_at_reduced_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    requested: list[tuple[str | None, tuple[int, int] | None]] = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> object:
        requested.append((mode, size))
        result = real_draft(self, mode, size)
        assert self.size[0] < 2560  # the decoder now works at 1/2, 1/4 or 1/8 scale
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    out = decode_image(encode(big_blocks(40), "JPEG", quality=90), **LIMITS, max_side=300)
    assert requested == [("RGB", (300, 150))]
    assert out.size == (300, 150)


def test_max_side_composites_transparency_before_averaging() -> None:
    """Transparent pixels' hidden colour (black here) must not darken what is averaged with them."""
    rgba = np.zeros((400, 800, 4), dtype=np.uint8)  # transparent black
    rgba[:, ::2] = (255, 0, 0, 255)  # every other column opaque red
    out = np.asarray(decode_image(encode(Image.fromarray(rgba), "PNG"), **LIMITS, max_side=100))
    # half red, half white: (255, 127, 127); averaging before compositing would give (127, 0, 0)
    assert np.abs(out.astype(int) - (255, 127, 127)).max() <= 3


@pytest.mark.parametrize("mode", ["P", "I;16", "LA", "L", "1", "CMYK"])
def test_max_side_handles_every_mode(mode: str) -> None:
    src = Image.new("RGB", (1200, 600), (0, 0, 0)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    out = decode_image(encode(src, fmt), **LIMITS, max_side=250)
    assert out.mode == "RGB" and out.size == (250, 125)
    assert np.asarray(out).max() <= 8  # black stays black


def test_query_encoder_photo_side_is_four_model_inputs_or_the_floor(tiny_embedder: Any) -> None:
    from snapbuy.embed.base import input_side
    from snapbuy.search.query_encoder import MIN_PHOTO_SIDE, QueryEncoder

    encoder = QueryEncoder(tiny_embedder, lambda v: np.zeros(len(v)))
    side = input_side(encoder.embedder.identity.preprocessing)
    assert side is not None and 4 * side < MIN_PHOTO_SIDE
    assert encoder.photo_side == MIN_PHOTO_SIDE  # a small model's input: the localiser still needs detail
    large = SimpleNamespace(identity=replace(tiny_embedder.identity, preprocessing={"image_size": 336}))
    assert QueryEncoder(large, lambda v: np.zeros(len(v))).photo_side == 4 * 336


def test_detail_side_shrinks_by_whole_factors_only() -> None:
    photo = Image.new("RGB", (3000, 1000), (200, 40, 40))
    # JPEG: the smallest decoder scale that keeps 896 pixels (1/2), and no resize after it.
    assert decode_image(encode(photo, "JPEG"), **LIMITS, detail_side=896).size == (1500, 500)
    # Other formats: a box filter by the whole factor 3000 // 896 = 3.
    assert decode_image(encode(photo, "PNG"), **LIMITS, detail_side=896).size == (1000, 334)
    assert decode_image(encode(photo, "PNG"), **LIMITS, detail_side=1600).size == (3000, 1000)  # under twice
    assert decode_image(encode(photo, "PNG"), **LIMITS, max_side=896).size == (896, 299)  # exact
    with pytest.raises(ValueError, match="max_side or detail_side"):
        decode_image(encode(photo, "PNG"), **LIMITS, max_side=896, detail_side=896)


def test_formats_decoded_at_full_size_have_their_own_pixel_limit() -> None:
    def encoded(fmt: str) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (100, 80), (10, 200, 30)).save(out, fmt)
        return out.getvalue()

    limits = {"max_bytes": 1 << 20, "max_pixels": 1_000_000, "max_side": 64, "max_full_decode_pixels": 5_000}
    for fmt in ("PNG", "WEBP"):
        with pytest.raises(
            TooManyPixelsError, match=r"100x80 = 8,000 pixels; the limit for PNG, WebP and HEIC"
        ):
            decode_image(encoded(fmt), **limits)
    assert max(decode_image(encoded("JPEG"), **limits).size) <= 64
