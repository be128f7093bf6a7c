"""Property tests of the image decoder (imaging.py): any bytes, including corrupted real images,
decode to an RGB image within the limits or raise an ImageError, never anything else."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from snapbuy.errors import ImageError
from snapbuy.imaging import decode_image

LIMITS = {"max_bytes": 1 << 20, "max_pixels": 4_000_000}


def encoded(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA" if fmt == "PNG" else "RGB", (40, 30), (200, 30, 60)).save(out, fmt)
    return out.getvalue()


def check(data: bytes, max_side: int | None = None) -> None:
    try:
        image = decode_image(data, **LIMITS, max_side=max_side)
    except ImageError:
        return
    assert image.mode == "RGB" and image.width * image.height <= LIMITS["max_pixels"]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_decode_or_raise_an_image_error(data: bytes) -> None:
    check(data)


@settings(max_examples=300, deadline=None)
@given(
    fmt=st.sampled_from(["JPEG", "PNG", "WEBP"]),
    edits=st.lists(st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(0, 255)), max_size=12),
    cut=st.integers(min_value=0, max_value=10_000),
    max_side=st.one_of(st.none(), st.integers(min_value=8, max_value=64)),
)
def test_corrupted_real_images_decode_or_raise_an_image_error(
    fmt: str, edits: list[tuple[int, int]], cut: int, max_side: int | None
) -> None:
    data = bytearray(encoded(fmt))
    for position, value in edits:
        data[position % len(data)] = value
    check(bytes(data[: max(1, len(data) - cut % len(data))]), max_side)
