"""Property tests of the multipart reader (api/upload.py): whatever the body and boundary, the reader
returns the image part or raises one of snapbuy's own errors (a 4xx), never anything else."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from snapbuy.api.upload import read_image_upload
from snapbuy.errors import SnapbuyError
from tests.api.test_upload import fake_request

BOUNDARY_CHARS = st.characters(min_codepoint=32, max_codepoint=126)


def read(content_type: str, chunks: list[bytes]) -> bytes | SnapbuyError:
    request, _ = fake_request({"content-type": content_type}, iter(chunks))
    try:
        return asyncio.run(read_image_upload(request, max_bytes=4096))
    except SnapbuyError as exc:
        assert exc.http_status < 500, exc.message
        return exc


def body(boundary: bytes, image: bytes, closing: bool) -> bytes:
    head = (
        b'Content-Disposition: form-data; name="image"; filename="p.png"\r\nContent-Type: image/png\r\n\r\n'
    )
    return b"--" + boundary + b"\r\n" + head + image + b"\r\n--" + boundary + (b"--\r\n" if closing else b"")


@settings(max_examples=300, deadline=None)
@given(boundary=st.text(BOUNDARY_CHARS, max_size=300), data=st.lists(st.binary(max_size=600), max_size=6))
def test_arbitrary_bodies_give_the_image_or_a_client_error(boundary: str, data: list[bytes]) -> None:
    read(f"multipart/form-data; boundary={boundary}", data)


@settings(max_examples=200, deadline=None)
@given(
    boundary=st.text(st.sampled_from("abcXYZ0129-_'"), min_size=1, max_size=70),
    image=st.binary(max_size=2000),
    split=st.integers(min_value=1, max_value=97),
)
def test_a_well_formed_body_gives_back_the_image_however_it_is_split(
    boundary: str, image: bytes, split: int
) -> None:
    raw = body(boundary.encode(), image, closing=True)
    chunks = [raw[i : i + split] for i in range(0, len(raw), split)]
    result = read(f'multipart/form-data; boundary="{boundary}"', chunks)
    if boundary.encode() in image:  # the part's own bytes close it early: a malformed body
        assert isinstance(result, (bytes, SnapbuyError))
    else:
        assert result == image


@settings(max_examples=100, deadline=None)
@given(
    boundary=st.text(st.sampled_from("abcXYZ0129"), min_size=1, max_size=70), image=st.binary(max_size=500)
)
def test_a_body_without_its_closing_boundary_is_refused(boundary: str, image: bytes) -> None:
    result = read(
        f"multipart/form-data; boundary={boundary}", [body(boundary.encode(), image, closing=False)]
    )
    assert isinstance(result, SnapbuyError) and result.http_status == 422
