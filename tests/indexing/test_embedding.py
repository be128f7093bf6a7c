"""JobEmbedder (indexing/embedding.py): images are decoded and prepared for the model in the decode
pool, one batch ahead of the model, and the vectors are those the model gives for the images."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from snapbuy.embed.base import ModelIdentity, input_side
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, decode_image
from snapbuy.indexing.embedding import JobEmbedder, draft_side
from snapbuy.indexing.embedding_cache import EmbeddingCache
from snapbuy.indexing.image_bytes import JobBytes
from snapbuy.indexing.options import IndexingOptions
from tests.api.helpers import encode

BATCH = 4


def jpeg(value: int, size: tuple[int, int] = (640, 480)) -> bytes:
    return encode(Image.new("RGB", size, (value, 255 - value, 90)), "JPEG", quality=90)


class Spy:
    """The tiny model, recording where images were prepared and how many images the stream had handed
    out by the time of each forward."""

    def __init__(self, model: OpenClipEmbedder, handed_out: list[int]) -> None:
        self.model, self.handed_out = model, handed_out
        self.prepared_on: set[str] = set()
        self.prepared_sizes: set[tuple[int, int]] = set()
        self.decodes_at_forward: list[int] = []

    @property
    def identity(self) -> ModelIdentity:
        return self.model.identity

    @property
    def dim(self) -> int:
        return self.model.dim

    def prepare_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        self.prepared_on.add(threading.current_thread().name.split("_")[0])
        self.prepared_sizes.update(image.size for image in images)
        return self.model.prepare_images(images)

    def embed_prepared(self, pixels: torch.Tensor) -> np.ndarray:
        self.decodes_at_forward.append(len(self.handed_out))
        return self.model.embed_prepared(pixels)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.model.embed_images(images)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.embed_texts(texts)


def test_the_pool_decodes_and_prepares_one_batch_ahead_of_the_model(
    tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    handed_out: list[int] = []
    spy = Spy(tiny_embedder, handed_out)
    contents = [jpeg(10 * i) for i in range(12)]

    def stream() -> Iterator[JobBytes]:
        for job, data in enumerate(contents):
            handed_out.append(job)
            yield JobBytes(job, data, None)

    cache = EmbeddingCache(tmp_path / "cache.sqlite", "test", tiny_embedder.dim)
    options = IndexingOptions(batch_size=BATCH, decode_workers=2)
    result = JobEmbedder(len(contents), spy, cache, options, None, None).run(stream())
    assert result.ok.all() and result.embedded == 12
    assert spy.prepared_on == {"decode"}  # never on the model's thread
    # The first forward ran once the second batch had been handed to the pool, and so on.
    assert spy.decodes_at_forward == [2 * BATCH, 3 * BATCH, 3 * BATCH]
    # Without catalog views a JPEG decodes at the smallest scale that keeps the model's input side:
    # 640x480 at 1/8 for the tiny model's 32 pixels.
    side = draft_side(tiny_embedder.identity.preprocessing, with_views=False)
    assert side == input_side(tiny_embedder.identity.preprocessing) == 32
    assert spy.prepared_sizes == {(80, 60)}
    expected = tiny_embedder.embed_images(
        [
            decode_image(
                c, max_bytes=LOCAL_FILE_MAX_BYTES, max_pixels=LOCAL_FILE_MAX_PIXELS, draft_short_side=side
            )
            for c in contents
        ]
    )
    assert np.allclose(result.vectors, expected, atol=1e-5)


def test_catalog_views_keep_twice_the_models_input_side_to_crop_from() -> None:
    preprocessing = {"image_size": [224, 224]}
    assert draft_side(preprocessing, with_views=True) == 448
    assert draft_side(preprocessing, with_views=False) == 224
    assert draft_side({}, with_views=False) is None  # unknown input size: decoded in full


def test_duplicates_across_the_batch_in_hand_and_the_next_are_embedded_once(
    tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    first = [jpeg(10 * i) for i in range(BATCH)]
    contents = [*first, first[1], jpeg(200), first[2], jpeg(210)]
    cache = EmbeddingCache(tmp_path / "cache.sqlite", "test", tiny_embedder.dim)
    result = JobEmbedder(
        len(contents), tiny_embedder, cache, IndexingOptions(batch_size=BATCH), None, None
    ).run(JobBytes(job, data, None) for job, data in enumerate(contents))
    assert (result.embedded, result.reused) == (6, 2)
    assert np.array_equal(result.vectors[BATCH], result.vectors[1])
    assert np.array_equal(result.vectors[BATCH + 2], result.vectors[2])
