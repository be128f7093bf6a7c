"""What words add to a photo on the demo shop: for held-out shopper photos of a design that comes in
several colours, ask for another of its colours ("in red") and count how often the top match is in
that colour, of that design, or both, photo alone against photo + words at several text weights.

The demo shop names each variant's colour after the title's last comma ("Basico Urjuv watch, white"),
which is how a product's colour is read here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from snapbuy.evaluation import read_queries
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, load_image_file
from snapbuy.search import SearchOptions, SearchResult, SearchService
from snapbuy.store import ProductRecord

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)


def colour_of(product: ProductRecord) -> str:
    return product.title.rsplit(",", 1)[-1].strip().lower()


@dataclass(frozen=True)
class WordsOutcome:
    """Shares of the photos whose top match has the asked colour, is of the photographed design, or
    both; `weight` None is the photo alone."""

    weight: float | None
    colour: float
    design: float
    both: float


def colour_words_effect(
    service: SearchService,
    queries: Path,
    weights: Sequence[float] = WEIGHTS,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, list[WordsOutcome]]:
    """(photos asked, outcome per weight, the photo alone first). A photo counts when its design has
    another colour; the colour asked for goes round the design's other colours in SKU order."""
    rows = [r for r in read_queries(queries) if not r.get("lookalike_of")][:limit]
    options = SearchOptions(k=1)
    counts: dict[float | None, list[int]] = {w: [0, 0, 0] for w in (None, *weights)}
    asked = 0
    for done, row in enumerate(rows, 1):
        true = service.product_with_variants(row["sku"])
        others = sorted(
            (v for v in true.variants if colour_of(v) != colour_of(true)),
            key=lambda v: v.sku,
        )
        if not others:
            continue
        wanted = colour_of(others[asked % len(others)])
        asked += 1
        image = load_image_file(
            queries.parent / row["image"], max_bytes=LOCAL_FILE_MAX_BYTES, max_pixels=LOCAL_FILE_MAX_PIXELS
        )
        answers: dict[float | None, SearchResult] = {None: service.search_image(image, options)}
        for weight in weights:
            answers[weight] = service.search_image(image, options, words=f"in {wanted}", text_weight=weight)
        for asked_with, result in answers.items():
            if not result.matches:
                continue
            top = result.matches[0]
            colour_ok = colour_of(top) == wanted
            design_ok = top.item_group_id is not None and top.item_group_id == true.item_group_id
            tally = counts[asked_with]
            tally[0] += colour_ok
            tally[1] += design_ok
            tally[2] += colour_ok and design_ok
        if progress is not None:
            progress(done, len(rows))
    share = (lambda n: n / asked) if asked else (lambda n: 0.0)
    return asked, [WordsOutcome(w, share(c), share(d), share(b)) for w, (c, d, b) in counts.items()]


def outcomes_markdown(asked: int, outcomes: Sequence[WordsOutcome]) -> str:
    lines = [
        f"Photo + 'in <another colour of its design>', {asked} held-out shopper photos: top match's share",
        "",
        "| query | asked colour | photographed design | both |",
        "|---|---|---|---|",
    ]
    for o in outcomes:
        name = "photo alone" if o.weight is None else f"photo + words, text_weight {o.weight:g}"
        lines.append(f"| {name} | {o.colour:.3f} | {o.design:.3f} | {o.both:.3f} |")
    return "\n".join(lines)
