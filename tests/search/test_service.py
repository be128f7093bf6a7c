"""SearchService: photo, text and product queries through the encoder and the catalog searcher."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from snapbuy.deadline import Deadline
from snapbuy.errors import DeadlineExceededError, InvalidParameterError, ModelMismatchError, NotFoundError
from snapbuy.search import SearchOptions, SearchService
from tests.search.conftest import CATEGORIES, grid_service
from tests.search.test_catalog_searcher import assert_equal_to_brute_force


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
