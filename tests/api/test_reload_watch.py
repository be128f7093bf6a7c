"""ReloadWatcher (api/reload_watch.py) in a running app: it notices a version published by
`snapbuy index` (build_index) while the app serves, and swaps it in; pruning by that run leaves the
served version alone until the server lets go of it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from snapbuy.api import create_app
from snapbuy.bundle import leased_versions, prune_versions, read_current
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.indexing import IndexingOptions, build_index
from snapbuy.search import SearchService
from tests.api.helpers import assert_still_serving, make_settings, wait_for
from tests.conftest import SAMPLE_CATALOG


def test_watcher_serves_a_newly_built_version(
    live_index: Path, live_service: SearchService, tiny_embedder: OpenClipEmbedder
) -> None:
    first = read_current(live_index)
    assert first is not None
    app = create_app(make_settings(live_index, reload_interval=0.05), live_service, owns_service=True)
    with TestClient(app) as client:
        assert client.get("/v1/index").json()["version"] == first
        build_index(SAMPLE_CATALOG, live_index, tiny_embedder, IndexingOptions(batch_size=8, keep_versions=1))
        second = read_current(live_index)
        assert second is not None and second != first

        wait_for(lambda: client.get("/v1/index").json()["version"] == second)
        assert client.get("/readyz").json()["version"] == second
        assert_still_serving(client)
        # The swapped-out service is closed once unused, and its lease released.
        wait_for(lambda: leased_versions(live_index) == {second})
        assert prune_versions(live_index, keep=1) == [first]
    assert leased_versions(live_index) == set()


def test_kept_while_served_pruned_after(
    live_index: Path, live_service: SearchService, tiny_embedder: OpenClipEmbedder
) -> None:
    """With polling off, the served version outlives a run that keeps only its own version."""
    first = read_current(live_index)
    app = create_app(make_settings(live_index, reload_interval=0), live_service, owns_service=True)
    with TestClient(app) as client:
        build_index(SAMPLE_CATALOG, live_index, tiny_embedder, IndexingOptions(batch_size=8, keep_versions=1))
        assert first is not None and (live_index / first).is_dir()
        assert client.get("/v1/index").json()["version"] == first
        assert_still_serving(client)
    assert prune_versions(live_index, keep=1) == [first]
