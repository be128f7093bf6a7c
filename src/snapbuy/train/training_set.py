"""The catalog as training tensors: preprocessed catalog images, cut-out sprites for the views, title
tokens and each product's design."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from snapbuy.catalog import read_catalog
from snapbuy.errors import InvalidParameterError, SnapbuyError
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, load_image_file
from snapbuy.synth.views import sprite_side, sprite_tensor
from snapbuy.train.localiser_training import localiser_cut_out

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSet:
    """The catalog as tensors, one row per product with a readable image."""

    images: torch.Tensor  # [N, 3, S, S] catalog images, preprocessed
    sprites: torch.Tensor  # [N, 4, S, S] RGBA product cut-outs
    tokens: torch.Tensor  # [N, L] title tokens
    titles: list[str]
    image_paths: list[Path]  # each row's catalog image: the localiser's process cuts its products out
    cut_outs: list[Image.Image]  # the localiser's cut-outs, when it trains in this process (else empty)
    designs: torch.Tensor  # [N] long: each row's design (item_group_id) as 0..D-1


def prepare_training_set(
    catalog_path: Path, transform: Any, tokenizer: Any, image_size: int, with_cut_outs: bool
) -> TrainingSet:
    catalog = read_catalog(catalog_path, skip_invalid=True)
    images, sprites, titles, paths, cut_outs, design_names = [], [], [], [], [], []
    for product in catalog.products:
        path = product.first_local_image
        if path is None:
            continue
        try:
            image = load_image_file(path, max_bytes=LOCAL_FILE_MAX_BYTES, max_pixels=LOCAL_FILE_MAX_PIXELS)
        except SnapbuyError as exc:
            log.warning("training skips %s: %s", product.sku, exc.message)
            continue
        images.append(transform(image))
        sprites.append(sprite_tensor(image, sprite_side(image_size)))
        titles.append(product.title)
        design_names.append(product.item_group_id or f"sku:{product.sku}")
        paths.append(path)
        if with_cut_outs:
            cut_outs.append(localiser_cut_out(image))
    if len(images) < 2:
        raise InvalidParameterError(
            f"{catalog_path} has fewer than two products with readable images to train on"
        )
    return TrainingSet(
        torch.stack(images),
        torch.stack(sprites),
        tokenizer(titles),
        titles,
        paths,
        cut_outs,
        design_indices(design_names),
    )


def design_indices(names: list[str]) -> torch.Tensor:
    """Each row's design as an index 0..D-1, numbered in order of first appearance."""
    numbers: dict[str, int] = {}
    return torch.tensor([numbers.setdefault(name, len(numbers)) for name in names], dtype=torch.long)
