from __future__ import annotations

from collections import defaultdict

import pytest

from snapbuy.demo.shop import BRANDS, generate_products
from snapbuy.demo.sprites import DRAWERS, SPRITE_SIZE, draw_sprite


def test_same_seed_same_shop_and_another_seed_another() -> None:
    assert generate_products(120, seed=5) == generate_products(120, seed=5)
    assert generate_products(120, seed=5) != generate_products(120, seed=6)


def test_shop_structure() -> None:
    products = generate_products(1000, seed=0)
    assert len(products) == 1000
    assert len({p.sku for p in products}) == 1000
    assert {p.category for p in products} == set(DRAWERS) and len(DRAWERS) >= 8
    variants: dict[str, set[str]] = defaultdict(set)
    for p in products:
        variants[p.group].add(p.colour)
        assert p.title.startswith(p.brand) and p.category in p.title
        assert p.price > 0
    # Every design but possibly the last comes in 2-4 colours.
    sizes = sorted(len(v) for v in variants.values())
    assert sizes[-1] <= 4 and sum(s < 2 for s in sizes) <= 1
    assert len({p.title for p in products}) == 1000  # titles tell SKUs apart
    assert {p.brand for p in products} == {b for b, _ in BRANDS}


def test_lookalikes_are_cheaper_copies_in_the_same_category() -> None:
    products = generate_products(1000, seed=0)
    by_group = {p.group: p for p in products}
    copies = [p for p in products if p.lookalike_of]
    assert len({p.group for p in copies}) >= 20
    for copy in copies:
        original = by_group[copy.lookalike_of or ""]
        assert original.category == copy.category
        assert original.design.params["style"] == copy.design.params["style"]
        assert copy.price < original.price


def test_too_small_a_shop_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_products(5, seed=0)


@pytest.mark.parametrize("category", sorted(DRAWERS))
def test_every_category_draws_a_centred_product_on_transparency(category: str) -> None:
    product = next(p for p in generate_products(60, seed=1) if p.category == category)
    from snapbuy.demo.shop import PALETTE

    sprite = draw_sprite(product.design, PALETTE[product.colour])
    assert sprite.size == (SPRITE_SIZE, SPRITE_SIZE) and sprite.mode == "RGBA"
    box = sprite.getbbox()
    assert box is not None
    width, height = box[2] - box[0], box[3] - box[1]
    assert max(width, height) > SPRITE_SIZE * 0.6 and min(width, height) > SPRITE_SIZE * 0.15
    corner = sprite.getpixel((0, SPRITE_SIZE - 1))
    assert isinstance(corner, tuple) and corner[3] == 0  # a corner stays transparent
