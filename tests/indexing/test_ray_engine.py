"""The Ray engine (indexing/ray_engine.py) against the local one: the same bundle from the same catalog,
the embedding cache used across runs, catalog views, the same bundle again when an embedding actor or a
read task is killed mid-run, and clear errors for what it cannot do.

The tests marked slow start one local Ray runtime for the module (2 CPUs, no dashboard; images come from
files and from a server on 127.0.0.1, never the network). The others call the stages and the driver's
collector directly, without Ray."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from snapbuy.bundle import open_current
from snapbuy.cli import app
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.errors import ConfigError, ModelError
from snapbuy.fetching import FetchPolicy
from snapbuy.imaging import decode_image
from snapbuy.indexing import EMBEDDING, IndexingOptions, IndexingReport, ModelSource, build_index
from snapbuy.indexing.embedding_cache import EmbeddingCache
from snapbuy.indexing.ray_engine import (
    CACHED,
    FAILED,
    NEW,
    REPEAT,
    Collector,
    EmbedStage,
    ReadSettings,
    ViewSettings,
    read_stage,
)
from snapbuy.loading import build_service
from snapbuy.search import SearchOptions
from tests.catalog_rows import read_rows, write_rows
from tests.conftest import SAMPLE_CATALOG, TINY_SPEC
from tests.indexing.test_remote import ImageSite, remote_feed

SOURCE = ModelSource(spec=TINY_SPEC, models_dir=Path("models").resolve())
FAST_FETCH = FetchPolicy(retries=1, backoff_seconds=0.01, read_timeout=5)
LOCAL = IndexingOptions(batch_size=8, fetch=FAST_FETCH)
RAY = replace(LOCAL, engine="ray", model_source=SOURCE)
NO_VIEWS = ViewSettings(per_image=0, seed=0, batch_size=8)
REMOTE = ("bac-1-black.jpg", "bac-1-red.jpg", "bac-2-blue.jpg")  # served by the test's image site
runner = CliRunner()


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[None]:
    """One local Ray runtime for the module's slow tests: 2 CPUs, so 2 embedding actors by default."""
    ray = pytest.importorskip(
        "ray", reason="the Ray engine's tests need the ray extra: pip install -e '.[ray]'"
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def image_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture(scope="module")
def awkward_catalog(tmp_path_factory: pytest.TempPathFactory, image_server: HTTPServer) -> Path:
    """The sample catalog with everything the engines must agree on: a missing file, garbage bytes, a
    truncated JPEG and a second product showing it, an ftp link, a product without images, images shared
    by two products (within a batch and across batches), downloads and a download that fails."""
    folder = tmp_path_factory.mktemp("awkward") / "catalog"
    shutil.copytree(SAMPLE_CATALOG.parent, folder)
    images = folder / "images"
    ImageSite(image_server, images)
    (images / "wat-1-black.jpg").unlink()
    (images / "wat-1-red.jpg").write_text("not an image")
    data = (images / "sne-1-red.jpg").read_bytes()
    (images / "sne-1-red.jpg").write_bytes(data[: len(data) // 2])
    links = {
        "WAT-2-GREEN": "ftp://cdn.example/x.jpg",
        "WAT-3-TAN": "",
        "SNE-2-BLUE": "images/sne-1-red.jpg",  # the truncated one again
        "MUG-1-RED": "images/mug-1-black.jpg",  # shared within a batch of 8
        "WAT-2-BLUE": "images/mug-3-white.jpg",  # shared across batches
        "BAC-2-GREEN": image_server.url_for("/img/missing.jpg"),  # 404
        **{name.upper().removesuffix(".JPG"): image_server.url_for(f"/img/{name}") for name in REMOTE},
    }
    catalog = folder / "catalog.csv"
    rows = read_rows(catalog)
    for row in rows:
        row["image_link"] = links.get(row["id"], row["image_link"])
    write_rows(catalog, rows)
    return catalog


@dataclass
class Built:
    root: Path
    report: IndexingReport


@pytest.fixture(scope="module")
def local_built(
    awkward_catalog: Path, tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder
) -> Built:
    root = tmp_path_factory.mktemp("local") / "idx"
    return Built(root, build_index(awkward_catalog, root, tiny_embedder, LOCAL))


@pytest.fixture(scope="module")
def ray_built(
    ray_runtime: None,
    awkward_catalog: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
) -> Built:
    root = tmp_path_factory.mktemp("ray") / "idx"
    return Built(root, build_index(awkward_catalog, root, tiny_embedder, RAY))


def vectors_by_image(root: Path) -> dict[tuple[str, str], np.ndarray]:
    """Each stored vector of the live version, by (sku, image link)."""
    import faiss

    bundle = open_current(root)
    index = faiss.read_index(str(bundle.vectors_path))
    vectors = index.reconstruct_n(0, index.ntotal)
    conn = sqlite3.connect(bundle.products_path)
    rows = conn.execute(
        "SELECT v.vector_id, p.sku, v.image_link FROM vectors v JOIN products p ON p.row = v.product_row"
    ).fetchall()
    conn.close()
    return {(sku, link): vectors[vid] for vid, sku, link in rows}


@pytest.mark.slow
def test_the_ray_engine_builds_the_local_engines_bundle(
    local_built: Built, ray_built: Built, awkward_catalog: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    local, ray = local_built.report, ray_built.report
    # The awkward catalog really is awkward: failures of every kind, reuse, downloads.
    assert local.images.failed == 6 and local.images.reused == 2 and local.images.downloaded == 3
    assert (ray.products, ray.vectors, ray.products_without_images) == (
        local.products,
        local.vectors,
        local.products_without_images,
    )
    assert ray.images == local.images  # embedded, reused, failed, downloaded, revalidated, bytes
    assert ray.image_problems == local.image_problems  # same skus, lines, links and reasons, in order
    assert ray.image_errors_file is not None and local.image_errors_file is not None
    assert ray.image_errors_file.read_bytes() == local.image_errors_file.read_bytes()
    assert open_current(ray_built.root).manifest.counts == open_current(local_built.root).manifest.counts

    local_vectors, ray_vectors = vectors_by_image(local_built.root), vectors_by_image(ray_built.root)
    assert ray_vectors.keys() == local_vectors.keys()
    for key, vector in local_vectors.items():
        assert float(vector @ ray_vectors[key]) >= 0.9999, key
        # The tiny random model puts different products at cosines up to 0.9999 too: the same model on
        # the same pixels must agree far closer than that.
        np.testing.assert_allclose(ray_vectors[key], vector, atol=1e-5, err_msg=str(key))

    local_service = build_service(open_current(local_built.root), tiny_embedder)
    ray_service = build_service(open_current(ray_built.root), tiny_embedder)
    for name in ("sne-3-tan.jpg", "mug-2-blue.jpg", "bac-3-white.jpg"):
        photo = Image.open(awkward_catalog.parent / "images" / name).convert("RGB")
        expected = [m.sku for m in local_service.search_image(photo, SearchOptions(k=3)).matches]
        found = [m.sku for m in ray_service.search_image(photo, SearchOptions(k=3)).matches]
        assert found == expected and len(found) == 3


@pytest.mark.slow
def test_a_rerun_on_ray_embeds_only_what_changed(
    ray_built: Built, awkward_catalog: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    catalog = tmp_path / "catalog" / "catalog.csv"
    shutil.copytree(awkward_catalog.parent, catalog.parent)
    root = tmp_path / "idx"
    shutil.copytree(ray_built.root, root)  # its versions and its .cache: embeddings, downloads
    one_actor = replace(RAY, ray_actors=1)
    first = ray_built.report.images

    unchanged = build_index(catalog, root, tiny_embedder, one_actor).images
    assert (unchanged.embedded, unchanged.reused) == (0, first.embedded + first.reused)
    assert (unchanged.failed, unchanged.downloaded, unchanged.revalidated) == (first.failed, 0, len(REMOTE))

    before = vectors_by_image(root)
    changed = catalog.parent / "images" / "sne-3-tan.jpg"
    with Image.open(changed) as image:
        ImageOps.mirror(image.convert("RGB")).save(changed, quality=95)
    after_change = build_index(catalog, root, tiny_embedder, one_actor).images
    assert (after_change.embedded, after_change.reused) == (1, unchanged.reused - 1)
    after = vectors_by_image(root)
    moved = {key for key in before if not np.array_equal(before[key], after[key])}  # the rest: the cache's
    assert moved == {("SNE-3-TAN", "images/sne-3-tan.jpg")}


@pytest.mark.slow
def test_catalog_views_on_ray_give_the_local_engines_vectors(
    ray_runtime: None, catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    # An image's views depend on its content and the seed alone, so the local engine's batches of 8 and
    # the Ray engine's batches of 3 (cut differently across actors) fold in the same views.
    views = replace(LOCAL, catalog_views=2, view_seed=3)
    build_index(catalog_copy, tmp_path / "local", tiny_embedder, views)
    build_index(
        catalog_copy,
        tmp_path / "ray",
        tiny_embedder,
        replace(views, engine="ray", model_source=SOURCE, batch_size=3),
    )
    build_index(catalog_copy, tmp_path / "plain", tiny_embedder, LOCAL)

    local, ray, plain = (vectors_by_image(tmp_path / name) for name in ("local", "ray", "plain"))
    assert ray.keys() == local.keys() == plain.keys() and len(local) > 10
    assert (
        open_current(tmp_path / "ray").manifest.vectors == open_current(tmp_path / "local").manifest.vectors
    )
    for key, vector in local.items():
        np.testing.assert_allclose(ray[key], vector, atol=1e-5, err_msg=str(key))
    # The views really are in the vectors: without them every vector differs.
    assert all(not np.allclose(plain[key], vector, atol=1e-3) for key, vector in local.items())


# A worker killed mid-run. The first batch comes back only once the actors have loaded the model; many
# small batches follow (a few seconds' worth on 2 CPUs), so an actor killed just after the first one
# still holds batches and has more to come.
KILL_PRODUCTS = 120  # each with its own image, and then the few below that fail or share an image
KILL_BATCH = 2
KILL_BROKEN = {"KILL-MISSING": "images/not-there.jpg", "KILL-GARBAGE": "images/garbage.jpg"}
KILL_SHARED = {"KILL-SHARED": "images/kill-0.jpg"}  # another product's image: reused, not embedded


@pytest.fixture(scope="module")
def kill_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """KILL_PRODUCTS products, each with an image of its own (random pixels: every one is new content),
    plus a missing file, garbage bytes and an image shared by two products."""
    folder = tmp_path_factory.mktemp("kill") / "catalog"
    images = folder / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(7)
    links = {}
    for i in range(KILL_PRODUCTS):
        pixels = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"kill-{i}.jpg", quality=90)
        links[f"KILL-{i}"] = f"images/kill-{i}.jpg"
    (images / "garbage.jpg").write_text("not an image")
    links |= KILL_BROKEN | KILL_SHARED
    catalog = folder / "catalog.csv"
    with catalog.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "title", "price", "brand", "product_type", "item_group_id", "image_link"])
        for sku, link in links.items():
            writer.writerow([sku, f"Thing {sku}", "100.00 NOK", "Acme", "thing", sku, link])
    return catalog


class EmbeddingWatch:
    """The run's progress as the test thread sees it: how many images of the `embedding` stage are done
    (advanced by the driver as each batch comes back from the embed stage)."""

    def __init__(self) -> None:
        self.total, self.done = 0, 0

    def start(self, stage: str, total: int) -> None:
        if stage == EMBEDDING:
            self.total = total

    def advance(self, stage: str, count: int = 1) -> None:
        if stage == EMBEDDING:
            self.done += count

    def finish(self, stage: str) -> None:
        pass


def embed_actors() -> dict[str, dict[str, Any]]:
    """Every embedding actor of this Ray runtime, by actor id: state, pid, restarts. From the control
    store's actor table: Ray's state API (ray.util.state.list_actors) needs the dashboard, which the
    ray[data] extra does not install and the test runtime does not start."""
    from ray._private.state import actors

    table: dict[str, dict[str, Any]] = actors()
    return {actor: info for actor, info in table.items() if "EmbedStage" in info["ActorClassName"]}


def wait_for(condition: Callable[[], bool], seconds: float, step: float = 0.05) -> bool:
    """Whether `condition` came true within `seconds` (polled every `step`)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


@pytest.mark.slow
def test_a_ray_run_survives_an_embedding_actor_killed_mid_run(
    ray_runtime: None, kill_catalog: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    options = replace(LOCAL, batch_size=KILL_BATCH)
    local = build_index(kill_catalog, tmp_path / "local", tiny_embedder, options)
    valid = KILL_PRODUCTS + len(KILL_SHARED)
    assert (local.products, local.images.failed, local.images.reused) == (valid, len(KILL_BROKEN), 1)

    earlier = set(embed_actors())  # actors of the module's other runs, dead or not: never these
    watch = EmbeddingWatch()
    reports: list[IndexingReport] = []
    errors: list[BaseException] = []
    root = tmp_path / "ray"

    def run() -> None:
        try:
            ray_options = replace(options, engine="ray", model_source=SOURCE)
            reports.append(build_index(kill_catalog, root, tiny_embedder, ray_options, watch))
        except BaseException as exc:  # handed to the test thread, which raises it
            errors.append(exc)

    thread = threading.Thread(target=run, name="ray-run-to-kill", daemon=True)
    thread.start()
    try:
        # Mid-run: the first batches are back at the driver, so the actors are up and busy.
        assert wait_for(lambda: watch.done > 0 or not thread.is_alive(), 120), "no batch within 120 s"
        live: dict[str, dict[str, Any]] = {}

        def found_live_actor() -> bool:
            live.update(
                (actor, info)
                for actor, info in embed_actors().items()
                if actor not in earlier and info["State"] == "ALIVE" and info["Pid"]
            )
            return bool(live) or not thread.is_alive()

        assert wait_for(found_live_actor, 30, step=0.2), "no live embedding actor within 30 s"
        assert thread.is_alive() and watch.done < watch.total, (
            f"the run ended before an actor could be killed ({watch.done} of {watch.total} images): "
            "make KILL_PRODUCTS larger or KILL_BATCH smaller"
        )
        actor, info = next(iter(live.items()))
        pid = int(info["Pid"])
        os.kill(pid, 0)  # the process exists (raises if not)
        os.kill(pid, signal.SIGKILL)
        done_at_kill = watch.done  # at most what the driver had when the actor died
        assert done_at_kill <= watch.total // 2, (
            f"the actor was killed late in the run ({done_at_kill} of {watch.total} images done): "
            "make KILL_PRODUCTS larger or KILL_BATCH smaller"
        )
    finally:
        thread.join(timeout=300)
    assert not thread.is_alive(), "the run did not finish within 300 s of the kill"
    if errors:
        raise AssertionError("the run failed after an embedding actor was killed") from errors[0]
    (report,) = reports

    # The kill happened, and Ray restarted the actor in a new process.
    restarted = embed_actors()[actor]
    assert restarted["NumRestarts"] >= 1, restarted
    assert restarted["Pid"] != pid
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10), f"process {pid} is still there"

    # Nothing lost, nothing duplicated: every valid product once, with the local engine's vector.
    assert watch.done == watch.total == KILL_PRODUCTS + len(KILL_SHARED) + len(KILL_BROKEN)
    assert report.images == local.images  # embedded, reused, failed: none counted twice
    assert report.image_problems == local.image_problems  # the same failures, reasons and order
    assert (report.products, report.vectors) == (valid, valid)
    bundle = open_current(root)
    conn = sqlite3.connect(bundle.products_path)
    skus = [sku for (sku,) in conn.execute("SELECT sku FROM products")]
    per_product = [n for (n,) in conn.execute("SELECT count(*) FROM vectors GROUP BY product_row")]
    conn.close()
    assert len(skus) == len(set(skus)) == valid and per_product == [1] * valid
    local_vectors, ray_vectors = vectors_by_image(tmp_path / "local"), vectors_by_image(root)
    assert ray_vectors.keys() == local_vectors.keys() and len(ray_vectors) == valid
    for key, vector in local_vectors.items():
        assert float(vector @ ray_vectors[key]) >= 0.9999, key
        np.testing.assert_allclose(ray_vectors[key], vector, atol=1e-5, err_msg=str(key))


class HeldSite(ImageSite):
    """An image site that, once armed, holds the first request for one image until released: a read
    task is then caught mid-fetch."""

    def __init__(self, server: HTTPServer, folder: Path, held: str) -> None:
        super().__init__(server, folder)
        self.held, self.armed = held, False
        self.arrived, self.release = threading.Event(), threading.Event()

    def handle(self, request: Any) -> Any:
        if self.armed and request.path.endswith(f"/{self.held}") and not self.arrived.is_set():
            self.arrived.set()
            self.release.wait(60)
        return super().handle(request)


def read_task_pids() -> list[int]:
    """Processes running a read-stage task now (Ray titles a worker by the task it runs)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"read_stage" in command:
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
def test_a_ray_run_survives_a_read_task_killed_mid_fetch(
    ray_runtime: None,
    httpserver: HTTPServer,
    catalog_copy: Path,
    tmp_path: Path,
    tiny_embedder: OpenClipEmbedder,
) -> None:
    site = HeldSite(httpserver, catalog_copy.parent / "images", held="wat-2-blue.jpg")
    feed = remote_feed(catalog_copy, lambda name: httpserver.url_for(f"/img/{name}"))
    options = replace(LOCAL, batch_size=4)
    local = build_index(feed, tmp_path / "local", tiny_embedder, options)
    assert (local.images.downloaded, local.images.failed) == (24, 0)

    site.armed = True
    reports: list[IndexingReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            ray_options = replace(options, engine="ray", model_source=SOURCE)
            reports.append(build_index(feed, tmp_path / "ray", tiny_embedder, ray_options))
        except BaseException as exc:  # handed to the test thread, which raises it
            errors.append(exc)

    thread = threading.Thread(target=run, name="ray-run-to-kill", daemon=True)
    thread.start()
    try:
        assert site.arrived.wait(120), "the held image was not requested within 120 s"
        pids: list[int] = []

        def found_read_task() -> bool:
            pids.extend(read_task_pids())
            return bool(pids)

        assert wait_for(found_read_task, 10), "no process running a read task"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
    finally:
        site.release.set()
        thread.join(timeout=300)
    assert not thread.is_alive(), "the run did not finish within 300 s of the kill"
    if errors:
        raise AssertionError("the run failed after a read task was killed") from errors[0]
    (report,) = reports
    counts, expected = report.images, local.images
    assert (counts.embedded, counts.reused, counts.failed) == (expected.embedded, expected.reused, 0)
    # What the killed task had downloaded before it died is in the shared download cache: the retry
    # revalidates it instead of downloading it again. Each image is counted once, one way or the other.
    assert counts.downloaded + counts.revalidated == 24 and counts.downloaded >= 1
    local_vectors, ray_vectors = vectors_by_image(tmp_path / "local"), vectors_by_image(tmp_path / "ray")
    assert ray_vectors.keys() == local_vectors.keys() and len(ray_vectors) == 24
    for key, vector in local_vectors.items():
        np.testing.assert_allclose(ray_vectors[key], vector, atol=1e-5, err_msg=str(key))


# Without a Ray runtime: the errors, and each stage called directly.


def test_the_ray_engine_without_ray_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, catalog_copy: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(ConfigError, match=r"pip install 'snapbuy\[ray\]'"):
        build_index(catalog_copy, tmp_path / "idx", tiny_embedder, RAY)
    assert not (tmp_path / "idx").exists()  # refused before anything was read or locked

    result = runner.invoke(
        app,
        [
            "index",
            str(catalog_copy),
            "--index",
            str(tmp_path / "cli"),
            "--model",
            TINY_SPEC,
            "--engine",
            "ray",
        ],
    )
    assert result.exit_code == ConfigError.exit_code
    assert "pip install 'snapbuy[ray]'" in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (replace(RAY, ray_actors=0), r"--ray-actors must be at least 1"),
        (replace(RAY, model_source=None), r"needs IndexingOptions.model_source"),
        (replace(LOCAL, ray_address="ray://head:10001"), r"apply only with --engine ray"),
        (replace(LOCAL, ray_actors=2), r"apply only with --engine ray"),
    ],
)
def test_what_an_engine_cannot_do_is_refused_before_the_run(
    options: IndexingOptions,
    message: str,
    catalog_copy: Path,
    tmp_path: Path,
    tiny_embedder: OpenClipEmbedder,
) -> None:
    with pytest.raises(ConfigError, match=message):
        build_index(catalog_copy, tmp_path / "idx", tiny_embedder, options)
    assert not (tmp_path / "idx").exists()


def test_the_cli_refuses_ray_options_without_the_ray_engine(catalog_copy: Path, tmp_path: Path) -> None:
    command = ["index", str(catalog_copy), "--index", str(tmp_path / "idx"), "--model", TINY_SPEC]
    result = runner.invoke(app, [*command, "--ray-actors", "2"])
    assert result.exit_code == ConfigError.exit_code
    assert "apply only with --engine ray" in result.output


def stage_batch(links: list[Path]) -> dict[str, np.ndarray]:
    return {
        "job": np.arange(len(links), dtype=np.int64),
        "link": np.asarray([str(p) for p in links]),
        "path": np.asarray([str(p) for p in links]),
        "url": np.asarray([""] * len(links)),
        "problem": np.asarray([""] * len(links)),
    }


def read_settings(tmp_path: Path) -> ReadSettings:
    return ReadSettings(
        FAST_FETCH, tmp_path / "images", LOCAL.max_image_bytes, LOCAL.max_image_pixels, 448, 1
    )


def test_the_read_stage_decodes_only_new_content(tmp_path: Path) -> None:
    images = SAMPLE_CATALOG.parent / "images"
    cached = images / "mug-1-red.jpg"
    garbage = tmp_path / "garbage.jpg"
    garbage.write_text("not an image")
    prefix = int(hashlib.sha256(cached.read_bytes()).hexdigest()[:16], 16)
    known = np.asarray([0, prefix, 2**64 - 1], dtype=np.uint64)
    links = [
        images / "mug-1-black.jpg",
        images / "mug-1-black.jpg",
        cached,
        garbage,
        tmp_path / "missing.jpg",
    ]

    out = read_stage(stage_batch(links), settings=read_settings(tmp_path), known=known)

    assert list(out["status"]) == [NEW, REPEAT, CACHED, FAILED, FAILED]
    assert out["digest"][0] == out["digest"][1] == hashlib.sha256(links[0].read_bytes()).hexdigest()
    assert out["digest"][3] and not out["digest"][4]  # undecodable content has a hash; no bytes, none
    assert "not an accepted image format" in out["reason"][3] and out["reason"][4]
    assert [len(p) for p in out["pixels"]][1:] == [0, 0, 0, 0]  # only new content travels as pixels
    decoded = decode_image(links[0].read_bytes(), max_bytes=10**8, max_pixels=10**8, draft_short_side=448)
    assert (int(out["width"][0]), int(out["height"][0])) == decoded.size
    assert out["pixels"][0] == decoded.tobytes()


def test_an_embed_actor_embeds_what_the_local_engine_would(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    images = SAMPLE_CATALOG.parent / "images"
    links = [images / "bac-1-black.jpg", images / "bac-1-black.jpg", images / "sne-2-blue.jpg"]
    batch = read_stage(stage_batch(links), settings=read_settings(tmp_path), known=None)

    out = EmbedStage(SOURCE, "cpu", tiny_embedder.identity, NO_VIEWS)(batch)

    assert "pixels" not in out and set(out["problem"]) == {""}
    expected = tiny_embedder.embed_images(
        [decode_image(p.read_bytes(), max_bytes=10**8, max_pixels=10**8, draft_short_side=448) for p in links]
    )
    assert float(out["vector"][0] @ expected[0]) >= 0.9999 and float(out["vector"][2] @ expected[2]) >= 0.9999
    assert not out["vector"][1].any()  # the repeat is left to the driver


def test_an_actor_with_another_model_stops_the_run_with_a_model_error(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    other = replace(tiny_embedder.identity, weights="sha256:feedface")
    batch = read_stage(
        stage_batch([SAMPLE_CATALOG.parent / "images" / "bac-1-black.jpg"]),
        settings=read_settings(tmp_path),
        known=None,
    )
    out = EmbedStage(SOURCE, "cpu", other, NO_VIEWS)(batch)
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite", "key", tiny_embedder.dim)
    collector = Collector(1, tiny_embedder.dim, cache, lambda source, received: None, None)
    with pytest.raises(ModelError, match=r"not as the driver's .* weights sha256:feedface"):
        collector.take(out)
    cache.close()


def test_the_collector_sends_back_what_the_cache_turned_out_not_to_hold(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite", "key", 2)
    held, lacking = "a" * 64, "b" * 64
    cache.put_many([(held, np.asarray([1.0, 0.0], np.float32))])
    collector = Collector(4, 2, cache, lambda source, received: None, None)
    collector.take(
        {
            "job": np.arange(4),
            "status": np.asarray([REPEAT, CACHED, CACHED, REPEAT]),
            "digest": np.asarray([held, held, lacking, lacking]),
            "reason": np.asarray([""] * 4),
            "fetched": np.asarray([""] * 4),
            "transferred": np.zeros(4, np.int64),
            "problem": np.asarray([""] * 4),
            "vector": np.zeros((4, 2), np.float32),
        }
    )
    # Job 0 waited for its batch's cached original; jobs 2 and 3 go round again.
    assert list(collector.result.ok) == [True, True, False, False]
    assert (collector.result.reused, collector.result.embedded) == (2, 0)
    assert collector.unresolved() == [2, 3] and collector.unresolved() == []
    cache.close()
