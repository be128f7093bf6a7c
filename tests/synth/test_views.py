from __future__ import annotations

import random

import torch
from PIL import Image, ImageDraw

from snapbuy.synth.views import MAX_SPRITE_SIDE, ViewSynthesizer, scene_tensors, sprite_side, sprite_tensor


def product(colour: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (128, 128), (250, 250, 250))
    ImageDraw.Draw(image).rectangle((30, 20, 90, 110), fill=colour)
    return image


def synthesizer(seed: int) -> ViewSynthesizer:
    sprites = torch.stack(
        [sprite_tensor(product(c), sprite_side(32)) for c in [(200, 20, 20), (20, 20, 200)]]
    )
    return ViewSynthesizer(sprites, scene_tensors(8, 64, random.Random(0)), seed, view_side=32)


def test_sprite_is_tight_square_rgba() -> None:
    sprite = sprite_tensor(product((10, 200, 10)), 32)
    assert sprite.shape == (4, 32, 32)
    assert sprite[3].max() == 1.0 and sprite[3, 0, 0] == 0.0
    # Tight crop: the product (taller than wide) spans the full height.
    assert sprite[3, 2:-2, 16].min() > 0.9  # (the outer two pixels are the softened edge)


def test_sprites_are_larger_than_views_within_a_cap() -> None:
    assert sprite_side(32) == 64 and sprite_side(48) == 96
    assert sprite_side(224) == 224 == max(224, MAX_SPRITE_SIDE)  # a large model input: the view's own side


def test_views_are_fresh_each_call_and_reproducible_by_seed() -> None:
    idx = torch.tensor([0, 1, 0, 1])
    a, b = synthesizer(1), synthesizer(1)
    first = a(idx)
    assert first.shape == (4, 3, 32, 32) and first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, b(idx))  # same seed, same views
    assert not torch.equal(first, a(idx))  # next call: new views


def test_views_show_the_product() -> None:
    views = synthesizer(2)(torch.zeros(64, dtype=torch.long))  # the red product, 64 times
    red = (views[:, 0] > views[:, 2] + 0.3).float().mean(dim=(1, 2))
    assert (red > 0.05).float().mean() > 0.8  # almost every view has a clearly red region


def test_occlusion_touches_only_its_share_of_views() -> None:
    syn = synthesizer(3)
    picked = syn._some(10_000, 0.4)
    assert (
        0.37 < len(picked) / 10_000 < 0.43
        and torch.equal(picked, torch.sort(picked).values)
        and len(set(picked.tolist())) == len(picked)
    )
    views = torch.rand(200, 3, 32, 32)
    occluded = (syn._occlude(views) != views).flatten(1).any(dim=1).float().mean()
    assert 0.25 < occluded < 0.55  # OCCLUSION_RATE 0.4; the others are returned untouched


def test_picked_rows_match_indexing_whatever_the_count() -> None:
    syn = synthesizer(4)
    bank = torch.rand(6, 2, 3, 3)
    for rows in ([1, 4, 1], [5], [0, 2, 3, 4, 5, 5, 1], [3, 2]):  # grow, shrink, grow past, shrink
        index = torch.tensor(rows)
        assert torch.equal(syn._pick("test", bank, index), bank[index])


def test_views_are_not_overwritten_by_later_calls() -> None:
    syn = synthesizer(5)
    first = syn(torch.tensor([0, 1, 1, 0]))
    kept = first.clone()
    syn(torch.tensor([1, 0, 1, 0, 1, 0]))
    syn(torch.tensor([1]))
    assert torch.equal(first, kept)  # the reused row buffers never reach a returned view
