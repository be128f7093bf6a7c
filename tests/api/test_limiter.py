"""The bound on concurrent photo searches (api/limiter.py): a few run, a few wait, the rest are told
503 overloaded with Retry-After at once; through the app with a search that is held up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from snapbuy.api import create_app
from snapbuy.api.limiter import SearchLimiter
from snapbuy.deadline import Deadline
from snapbuy.errors import DeadlineExceededError, OverloadedError
from snapbuy.search import SearchService
from tests.api.helpers import assert_error, make_settings, photo_png, upload, wait_for


def test_limiter_runs_some_queues_some_and_refuses_the_rest() -> None:
    async def scenario() -> tuple[int, list[str]]:
        limiter = SearchLimiter(max_running=2, max_waiting=1)
        release = asyncio.Event()
        most = 0

        async def search() -> str:
            nonlocal most
            async with limiter.slot():
                most = max(most, limiter.running)
                await release.wait()
            return "done"

        tasks = [asyncio.create_task(search()) for _ in range(3)]
        for _ in range(100):  # until two run and one waits
            await asyncio.sleep(0)
        assert (limiter.running, limiter.waiting) == (2, 1)
        with pytest.raises(OverloadedError) as refused:
            async with limiter.slot():
                pass  # pragma: no cover
        assert refused.value.http_headers() == {"Retry-After": "1"}
        release.set()
        results = await asyncio.gather(*tasks)
        assert (limiter.running, limiter.waiting) == (0, 0)
        async with limiter.slot():  # free again
            pass
        return most, results

    most, results = asyncio.run(scenario())
    assert most == 2
    assert results == ["done"] * 3


def test_a_waiter_cancelled_or_past_its_deadline_frees_its_place() -> None:
    async def scenario() -> None:
        limiter = SearchLimiter(max_running=1, max_waiting=1)
        release = asyncio.Event()

        async def hold() -> None:
            async with limiter.slot():
                await release.wait()

        holder = asyncio.create_task(hold())
        waiter = asyncio.create_task(hold())
        for _ in range(100):
            await asyncio.sleep(0)
        assert (limiter.running, limiter.waiting) == (1, 1)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert limiter.waiting == 0
        with pytest.raises(DeadlineExceededError, match="before its turn"):
            async with limiter.slot(Deadline(0.05)):
                pass  # pragma: no cover
        assert (limiter.running, limiter.waiting) == (1, 0)
        release.set()
        await holder
        assert limiter.running == 0
        async with limiter.slot(Deadline(5.0)):  # a free turn is taken at once
            assert limiter.running == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(("running", "waiting"), [(0, 1), (1, -1)])
def test_limiter_bounds_are_checked(running: int, waiting: int) -> None:
    with pytest.raises(ValueError):
        SearchLimiter(running, waiting)


@contextmanager
def one_search_held(
    client: TestClient, service: SearchService, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[int]]:
    """Start one photo search and hold it inside the thread pool until the block ends; yields the list
    its status lands in once it is let go."""
    entered = threading.Event()
    release = threading.Event()
    real_search = service.search_image

    def held_search(*args: object, **kwargs: object) -> object:
        entered.set()
        assert release.wait(30), "the test never released the search"
        return real_search(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "search_image", held_search)
    first: list[int] = []
    thread = threading.Thread(target=lambda: first.append(upload(client, photo_png()).status_code))
    thread.start()
    try:
        assert entered.wait(30)
        yield first
    finally:
        release.set()
        thread.join(30)
        monkeypatch.setattr(service, "search_image", real_search)


def test_app_answers_503_with_retry_after_while_full(
    sample_index: Path, sample_service: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(sample_index, max_concurrent_searches=1, max_queued_searches=0)
    with TestClient(create_app(settings, sample_service)) as client:
        with one_search_held(client, sample_service, monkeypatch) as first:
            response = upload(client, photo_png())
            assert_error(response, 503, "overloaded")
            assert response.headers["retry-after"] == "1"
            assert client.get("/v1/search", params={"q": "watch"}).status_code == 200  # text not limited
        assert first == [200]
        wait_for(lambda: upload(client, photo_png()).status_code == 200, timeout=10)


def test_app_answers_504_when_a_search_runs_past_its_deadline(
    sample_index: Path, sample_service: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One search is held in the thread pool past its deadline; the one queued behind it gives up at
    its own deadline, and the held one stops at its next stage: both 504, then the server answers."""
    settings = make_settings(
        sample_index, max_concurrent_searches=1, max_queued_searches=1, search_deadline=2.0
    )
    with TestClient(create_app(settings, sample_service)) as client:
        with one_search_held(client, sample_service, monkeypatch) as first:
            response = upload(client, photo_png())
            assert_error(response, 504, "deadline_exceeded")
            assert "before its turn" in response.json()["error"]["message"]
            assert response.headers["retry-after"] == "1"
        assert first == [504]
        wait_for(lambda: upload(client, photo_png()).status_code == 200, timeout=10)
