"""ServiceHolder (api/live_service.py) with stand-in services: leases keep a swapped-out service open,
the swap is atomic, a failed load keeps the served version, and lease files follow what is served."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from snapbuy.api.live_service import ServiceHolder
from snapbuy.bundle import leased_versions, write_current
from snapbuy.errors import BundleError, NotReadyError
from snapbuy.search import SearchService


class FakeService:
    def __init__(self, root: Path, version: str) -> None:
        self.bundle = SimpleNamespace(path=root / version)
        self.closed = False

    def close(self) -> None:
        assert not self.closed, "closed twice"
        self.closed = True


def fake(root: Path, version: str) -> SearchService:
    return cast(SearchService, FakeService(root, version))


def is_closed(service: SearchService) -> bool:
    return cast(FakeService, service).closed


class Loader:
    """load_next for the holder: a fake service of the index's live version, or the given failure."""

    def __init__(self, root: Path, failure: Exception | None = None) -> None:
        self.root = root
        self.failure = failure
        self.calls = 0

    def __call__(self, current: SearchService) -> SearchService:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return fake(self.root, (self.root / "CURRENT").read_text().strip())


def serving_v1(
    root: Path, loader: Loader | None = None, *, owned: bool = True
) -> tuple[ServiceHolder, SearchService]:
    """A holder over `root` serving a fake service of version v1."""
    holder = ServiceHolder(root, loader or Loader(root))
    service = fake(root, "v1")
    holder.install(service, owned=owned)
    return holder, service


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_current(tmp_path, "v1")
    return tmp_path


def test_lease_keeps_the_old_service_open_until_released(root: Path) -> None:
    holder, _ = serving_v1(root)
    with holder.lease() as old:
        write_current(root, "v2")
        assert holder.reload()
        assert holder.version == "v2"
        with holder.lease() as new:
            assert new.bundle.path.name == "v2"
        assert not is_closed(old)  # a request still uses it
        assert leased_versions(root) == {"v1", "v2"}
    assert is_closed(old)
    assert not is_closed(new)
    assert leased_versions(root) == {"v2"}
    holder.close()
    assert is_closed(new)
    assert leased_versions(root) == set()


def test_unused_old_service_is_closed_at_the_swap(root: Path) -> None:
    holder, old = serving_v1(root)
    write_current(root, "v2")
    assert holder.reload()
    assert is_closed(old)
    assert not holder.reload()  # v2 is served already


def test_injected_service_is_left_open(root: Path) -> None:
    holder, injected = serving_v1(root, owned=False)
    write_current(root, "v2")
    assert holder.reload()
    holder.close()
    assert not is_closed(injected)
    assert leased_versions(root) == set()


def test_failed_load_keeps_serving_and_is_logged_once(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    loader = Loader(root, BundleError("vectors.faiss is corrupt"))
    holder, served = serving_v1(root, loader)
    write_current(root, "v2")
    with caplog.at_level(logging.ERROR, logger="snapbuy.api.live_service"):
        assert not holder.reload()
        assert not holder.reload()
    assert loader.calls == 1  # the broken version is not tried again
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert holder.last_reload_error is not None
    assert "v2" in holder.last_reload_error and "corrupt" in holder.last_reload_error
    with holder.lease() as service:
        assert service is served and not is_closed(service)

    loader.failure = None
    write_current(root, "v3")  # a fixed version clears the error
    assert holder.reload()
    assert holder.version == "v3" and holder.last_reload_error is None


def test_not_ready_before_a_service_is_installed(root: Path) -> None:
    holder = ServiceHolder(root, Loader(root))
    holder.load_error = "no index at /x"
    with pytest.raises(NotReadyError, match="no index at /x"), holder.lease():
        pass
    assert not holder.reload()


def test_service_installed_after_close_is_closed(root: Path) -> None:
    holder = ServiceHolder(root, Loader(root))
    holder.close()
    late = fake(root, "v1")
    holder.install(late, owned=True)  # a background load finishing after the server stopped
    assert is_closed(late)
    assert holder.version is None
    assert leased_versions(root) == set()


def test_swaps_under_concurrent_leases_never_hand_out_a_closed_service(root: Path) -> None:
    holder = ServiceHolder(root, Loader(root))
    holder.install(fake(root, "v0"), owned=True)
    stop = threading.Event()
    seen: set[str] = set()
    problems: list[str] = []

    def use() -> None:
        deadline = time.monotonic() + 10
        while not stop.is_set() and time.monotonic() < deadline:
            with holder.lease() as service:
                if is_closed(service):
                    problems.append(f"{service.bundle.path.name} was closed")
                seen.add(service.bundle.path.name)
                time.sleep(0.0005)
                if is_closed(service):
                    problems.append(f"{service.bundle.path.name} closed under a lease")

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for n in range(1, 31):
        write_current(root, f"v{n}")
        assert holder.reload()
        time.sleep(0.002)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    assert problems == []
    assert len(seen) > 1
    assert holder.version == "v30"
    assert leased_versions(root) == {"v30"}  # every retired version was released
