"""The demo shop's product list: categories, designs, colour variants, brands and NOK prices.

Deterministic by seed. About one design in six is a deliberate lookalike: a cheaper brand's copy of
another design in the same category, with the same silhouette and small changes in its details."""

from __future__ import annotations

import random
from dataclasses import dataclass

from snapbuy.demo.sprites import DRAWERS, Colour, Design

PALETTE: dict[str, Colour] = {
    "black": (28, 28, 30),
    "white": (236, 236, 232),
    "grey": (128, 128, 132),
    "red": (196, 32, 38),
    "navy": (30, 44, 110),
    "blue": (48, 110, 210),
    "green": (40, 130, 60),
    "olive": (112, 118, 48),
    "yellow": (232, 196, 40),
    "orange": (236, 120, 30),
    "pink": (230, 130, 170),
    "purple": (110, 50, 150),
    "brown": (110, 70, 40),
    "tan": (200, 160, 110),
    "teal": (30, 140, 140),
}
PATTERNS = ("plain", "stripes", "dots", "band", "check")
# (brand, price multiplier): three levels, so every category spans budget to premium.
BRANDS = (
    ("Basico", 0.45),
    ("Kvikk", 0.55),
    ("Hverdag", 0.65),
    ("Nordlys", 1.0),
    ("Fjord", 1.15),
    ("Polar", 1.3),
    ("Aurum", 2.4),
    ("Solberg & Co", 3.0),
    ("Maison Vik", 3.8),
)
BASE_PRICE_NOK = {
    "watch": 1800,
    "sneaker": 1100,
    "handbag": 1500,
    "sunglasses": 900,
    "t-shirt": 300,
    "mug": 180,
    "lamp": 800,
    "backpack": 700,
    "headphones": 1400,
    "bottle": 250,
}
DESIGN_WORDS = (
    "Aero",
    "Bris",
    "Dal",
    "Eik",
    "Fonn",
    "Glimt",
    "Hav",
    "Is",
    "Juv",
    "Kyst",
    "Lyng",
    "Mo",
    "Nes",
    "Os",
    "Pil",
    "Rim",
    "Sol",
    "Tind",
    "Ur",
    "Vann",
    "Vik",
    "Ask",
    "Berg",
    "Fjell",
)
LOOKALIKE_SHARE = 1 / 6


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    title: str
    brand: str
    category: str
    price: float
    group: str  # item_group_id: the design
    colour: str
    design: Design
    lookalike_of: str | None  # the group this design copies, if any


def _random_design(rng: random.Random, category: str) -> Design:
    params = {
        "a": rng.random(),
        "b": rng.random(),
        "c": rng.random(),
        "t": rng.random(),
        "style": rng.randrange(3),
        "n": rng.randrange(4),
    }
    accent = PALETTE[rng.choice(list(PALETTE))]
    return Design(category, params, accent, rng.choice(PATTERNS))


def _lookalike(rng: random.Random, original: Design) -> Design:
    """Same silhouette and style; small shifts in proportions and a different detail."""
    params = dict(original.params)
    for key in ("a", "b", "c", "t"):
        params[key] = min(0.999, max(0.0, params[key] + rng.uniform(-0.12, 0.12)))
    pattern = rng.choice([p for p in PATTERNS if p != original.pattern])
    return Design(original.category, params, original.accent, pattern)


def generate_products(n_products: int, seed: int) -> list[DemoProduct]:
    """About n_products SKUs (exactly n when n >= 40) spread over every category."""
    if n_products < len(DRAWERS) * 2:
        raise ValueError(f"a demo shop needs at least {len(DRAWERS) * 2} products (two per category)")
    rng = random.Random(seed)
    categories = list(DRAWERS)
    products: list[DemoProduct] = []
    designs: dict[str, list[tuple[str, Design, int]]] = {c: [] for c in categories}  # group, design, brand
    counter = 0
    while len(products) < n_products:
        category = categories[counter % len(categories)]
        counter += 1
        originals = [d for d in designs[category] if BRANDS[d[2]][1] >= 1.0]
        copy_of: tuple[str, Design, int] | None = None
        if originals and rng.random() < LOOKALIKE_SHARE:
            copy_of = rng.choice(originals)
            design = _lookalike(rng, copy_of[1])
            brand_index = rng.randrange(3)  # lookalikes are budget brands
        else:
            design = _random_design(rng, category)
            brand_index = rng.randrange(len(BRANDS))
        group = f"{category[:3].upper()}{len(designs[category]) + 1:03d}"
        designs[category].append((group, design, brand_index))
        brand, level = BRANDS[brand_index]
        name = f"{rng.choice(DESIGN_WORDS)}{rng.choice(DESIGN_WORDS).lower()}"
        design_price = BASE_PRICE_NOK[category] * level * rng.uniform(0.8, 1.25)
        n_variants = min(rng.randint(2, 4), n_products - len(products))
        colours = rng.sample(list(PALETTE), n_variants)
        for colour in colours:
            products.append(
                DemoProduct(
                    sku=f"{group}-{colour.upper()}",
                    title=f"{brand} {name} {category}, {colour}",
                    brand=brand,
                    category=category,
                    price=round(design_price * rng.uniform(0.97, 1.03), -1) - 1,  # shop prices end in 9
                    group=group,
                    colour=colour,
                    design=design,
                    lookalike_of=copy_of[0] if copy_of else None,
                )
            )
    return products
