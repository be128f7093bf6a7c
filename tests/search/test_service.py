"""SearchService: photo, text and product queries through the encoder and the catalog searcher."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from snapbuy.bundle import open_current
from snapbuy.deadline import Deadline
from snapbuy.errors import DeadlineExceededError, InvalidParameterError, ModelMismatchError, NotFoundError
from snapbuy.loading import build_service
from snapbuy.search import FramingSettings, SearchOptions, SearchService
from tests.fakes import HashEmbedder
from tests.search.conftest import CATEGORIES, grid_service
from tests.search.test_catalog_searcher import assert_equal_to_brute_force
from tests.search.test_query_encoder import SeveralLocaliser


def test_catalog_image_finds_itself_first(service: SearchService, synthetic_index: Path) -> None:
    image = Image.open(synthetic_index.parent / "p3-0.png").convert("RGB")
    result = service.search_image(image, SearchOptions(k=3))
    assert result.matches[0].sku == "SKU003"
    assert result.matches[0].score == pytest.approx(1.0, abs=1e-5)
    assert result.category == CATEGORIES[3]  # SKU003's own category wins the vote
    assert {"embed", "search", "total"} <= set(result.timings_ms)


def test_similar_leaves_the_product_out(service: SearchService) -> None:
    options = SearchOptions(k=5)
    result = service.similar("SKU007", options)
    record = service.product("SKU007")
    assert result.category == record.category and result.category_source == "product"
    every = [i.sku for i in result.matches] + [i.sku for t in result.tiers for i in t.items]
    assert "SKU007" not in every
    query = service.catalog.first_vector_of(record)
    expected_options = SearchOptions(k=5, category=record.category)
    assert_equal_to_brute_force(service, result, query, expected_options, exclude=record.row)


def test_unknown_sku_is_not_found(service: SearchService) -> None:
    with pytest.raises(NotFoundError):
        service.product("NOPE")
    with pytest.raises(NotFoundError):
        service.similar("NOPE", SearchOptions())


def test_text_search_uses_the_text_tower(service: SearchService) -> None:
    result = service.search_text("red watch", SearchOptions(k=2))
    assert len(result.matches) == 2
    with pytest.raises(InvalidParameterError):
        service.search_text("   ", SearchOptions())


def test_an_index_is_refused_by_another_model(synthetic_index: Path, tiny_embedder: object) -> None:
    with pytest.raises(ModelMismatchError, match="was built with model 'fake:hash'"):
        grid_service(synthetic_index, tiny_embedder)  # type: ignore[arg-type]


def test_similar_with_a_requested_category_says_so(service: SearchService) -> None:
    other = next(c for c in CATEGORIES if c != service.product("SKU007").category)
    result = service.similar("SKU007", SearchOptions(k=3, category=other))
    assert (result.category, result.category_source) == (other, "request")
    assert all(i.category == other for i in result.matches)


def test_similar_hides_out_of_stock_lookalikes_unless_asked_for(stocked_service: SearchService) -> None:
    record = stocked_service.product("SKU007")
    query = stocked_service.catalog.first_vector_of(record)
    for include in (False, True):
        result = stocked_service.similar("SKU007", SearchOptions(k=5, include_out_of_stock=include))
        assert result.category_source == "product"
        expected = SearchOptions(k=5, category=record.category, include_out_of_stock=include)
        assert_equal_to_brute_force(stocked_service, result, query, expected, exclude=record.row)


class SteppedClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def count_calls(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, before: Callable[[], None] = lambda: None
) -> list[int]:
    """Replace owner.name with a wrapper that runs `before`, then the original; returns the list that
    gets one entry per call."""
    calls: list[int] = []
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        before()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def photo_and_one_second(synthetic_index: Path) -> tuple[Image.Image, SteppedClock, Deadline]:
    """SKU003's catalog photo, and a one-second deadline on a clock the test moves."""
    clock = SteppedClock()
    image = Image.open(synthetic_index.parent / "p3-0.png").convert("RGB")
    return image, clock, Deadline(1.0, clock=clock)


def test_a_spent_deadline_stops_a_photo_search_before_the_model(
    service: SearchService, synthetic_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, clock, deadline = photo_and_one_second(synthetic_index)
    clock.now = 1.0
    model_calls = count_calls(monkeypatch, service.encoder.embedder, "embed_images")
    with pytest.raises(DeadlineExceededError, match="before the model"):
        service.search_image(image, SearchOptions(k=3), deadline)
    assert model_calls == []


def test_a_deadline_spent_inside_the_model_skips_the_catalog_search(
    service: SearchService, synthetic_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, clock, deadline = photo_and_one_second(synthetic_index)

    def outlast_the_budget() -> None:
        clock.now += 2.0

    count_calls(monkeypatch, service.encoder.embedder, "embed_images", outlast_the_budget)
    searched = count_calls(monkeypatch, service.catalog, "search")
    with pytest.raises(DeadlineExceededError, match=r"2.00 s spent before"):
        service.search_image(image, SearchOptions(k=3), deadline)
    assert searched == []
    result = service.search_image(image, SearchOptions(k=3), Deadline(60.0))  # a fresh budget answers
    assert result.matches[0].sku == "SKU003" and searched == [1]


def test_a_spent_deadline_stops_a_text_search(service: SearchService) -> None:
    clock = SteppedClock()
    deadline = Deadline(1.0, clock=clock)
    clock.now = 3.0
    with pytest.raises(DeadlineExceededError):
        service.search_text("red watch", SearchOptions(k=2), deadline)


def test_words_with_a_photo_lean_the_query_and_are_reported(
    service: SearchService, synthetic_index: Path
) -> None:
    image = Image.open(synthetic_index.parent / "p3-0.png").convert("RGB")
    alone = service.search_image(image, SearchOptions(k=3))
    assert alone.words is None
    photo = service.encoder.encode_image(image)[0]
    words = service.encoder.encode_text("in red")
    for weight in (0.0, 0.3, 1.0):
        result = service.search_image(image, SearchOptions(k=3), words="in red", text_weight=weight)
        assert result.words is not None
        assert (result.words.text, result.words.text_weight, result.words.price_phrases) == (
            "in red",
            weight,
            (),
        )
        combined = (1 - weight) * photo + weight * words
        expected = service.search_vector(combined / np.linalg.norm(combined), SearchOptions(k=3))
        # The designs and their scores are the combined query's (the words may pick other variants).
        groups = service.catalog.columns.group_code
        assert [groups[i.row] for i in result.matches] == [groups[i.row] for i in expected.matches]
        assert [i.score for i in result.matches] == pytest.approx(
            [i.score for i in expected.matches], abs=1e-5
        )
    unchanged = service.search_image(image, SearchOptions(k=3), words="in red", text_weight=0.0)
    assert unchanged.matches[0].sku == alone.matches[0].sku  # weight 0: the photo alone ranks


def test_price_words_bound_the_price_with_the_requests_own(
    stocked_service: SearchService, synthetic_index: Path
) -> None:
    image = Image.open(synthetic_index.parent / "p3-0.png").convert("RGB")
    result = stocked_service.search_image(
        image, SearchOptions(k=4, min_price=100), words="red under 2,000 kr"
    )
    assert result.words is not None
    assert result.words.text == "red"
    assert result.words.price_phrases == ("under 2,000 kr",)
    assert (result.words.min_price, result.words.max_price) == (100, 2000)
    prices = [i.price_paid for i in [*result.matches, *(i for t in result.tiers for i in t.items)]]
    assert prices and all(100 <= p <= 2000 for p in prices)
    only_price = stocked_service.search_image(image, SearchOptions(k=4), words="under 500")
    assert (
        only_price.words is not None
        and only_price.words.text is None
        and only_price.words.text_weight is None
    )


@pytest.mark.parametrize(("word", "below"), [("cheaper", True), ("more expensive", False)])
def test_cheaper_and_dearer_are_relative_to_the_best_match(
    stocked_service: SearchService, synthetic_index: Path, word: str, below: bool
) -> None:
    image = Image.open(synthetic_index.parent / "p3-0.png").convert("RGB")
    best = stocked_service.search_image(image, SearchOptions(k=1)).matches[0]
    result = stocked_service.search_image(image, SearchOptions(k=4), words=word)
    items = [*result.matches, *(i for t in result.tiers for i in t.items)]
    assert items and best.sku not in [i.sku for i in items]
    if below:
        assert all(i.price_paid < best.price_paid for i in items)
    else:
        assert all(i.price_paid > best.price_paid for i in items)


def test_words_alone_read_prices_and_refuse_what_needs_a_photo(stocked_service: SearchService) -> None:
    result = stocked_service.search_text("lamp under 900", SearchOptions(k=3))
    assert result.words is not None and result.words.text == "lamp" and result.words.max_price == 900
    assert all(i.price_paid <= 900 for i in result.matches)
    with pytest.raises(InvalidParameterError, match="needs a photo"):
        stocked_service.search_text("cheaper lamp", SearchOptions())
    with pytest.raises(InvalidParameterError, match="only names a price"):
        stocked_service.search_text("under 500", SearchOptions())


def test_a_text_weight_outside_0_to_1_is_refused(service: SearchService, synthetic_index: Path) -> None:
    image = Image.open(synthetic_index.parent / "p3-0.png").convert("RGB")
    with pytest.raises(InvalidParameterError, match="text_weight"):
        service.search_image(image, SearchOptions(), words="red", text_weight=1.5)


def test_each_product_in_a_photo_gets_its_own_answer(synthetic_index: Path) -> None:
    photo = Image.fromarray(np.random.default_rng(8).integers(0, 256, (120, 90, 3), dtype=np.uint8))
    photo.paste(Image.open(synthetic_index.parent / "p3-0.png").convert("RGB").resize((30, 30)), (5, 5))
    found: Any = SeveralLocaliser([((5, 5, 35, 35), 0.9), ((40, 60, 80, 110), 0.7), ((0, 80, 20, 100), 0.2)])
    service = build_service(open_current(synthetic_index), HashEmbedder(), FramingSettings(), found)
    options = SearchOptions(k=3)
    result = service.search_image(photo, options, max_products=3, product_min_score=0.5)
    assert [g.found.box for g in result.groups] == [(5, 5, 35, 35), (40, 60, 80, 110)]
    first = result.groups[0]
    assert (first.found, first.category, first.matches, first.tiers) == (
        result.found,
        result.category,
        result.matches,
        result.tiers,
    )
    vectors = service.encoder.encode_products(photo, max_products=3, min_score=0.5)
    for group, (vector, _) in zip(result.groups, vectors, strict=True):
        expected = service.search_vector(vector, options)
        assert [i.sku for i in group.matches] == [i.sku for i in expected.matches]
        assert group.category == expected.category
        assert [[i.sku for i in t.items] for t in group.tiers] == [
            [i.sku for i in t.items] for t in expected.tiers
        ]
    one = service.search_image(photo, options)  # max_products 1: the best product alone
    assert len(one.groups) == 1 and [i.sku for i in one.matches] == [i.sku for i in result.matches]
    with pytest.raises(InvalidParameterError, match="max_products"):
        service.search_image(photo, options, max_products=0)
    service.close()
