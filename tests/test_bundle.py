"""The on-disk index bundle (docs/indexing.md, "Bundles, versions and publishing"): atomic publish,
CURRENT, manifest, model check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from snapbuy import __version__
from snapbuy.bundle import (
    CURRENT_FILE,
    FORMAT_VERSION,
    LEASES_DIR,
    MANIFEST_FILE,
    PRODUCTS_FILE,
    STAGING_PREFIX,
    BundleVersion,
    Manifest,
    leased_versions,
    open_current,
    prune_versions,
    read_manifest,
    release_lease,
    staged_version,
    take_lease,
    write_current,
    write_manifest,
)
from snapbuy.embed.base import ModelIdentity
from snapbuy.errors import BundleError, BundleNotFoundError, ModelMismatchError
from snapbuy.index import FlatIndex
from snapbuy.index.files import VECTORS_FILE
from snapbuy.store import ProductRecord, ProductStore, write_store
from snapbuy.tiers import TierBound

PRE: dict[str, Any] = {
    "image_size": [32, 32],
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}
MODEL = ModelIdentity("tests/data/tiny-clip.json:random", "config-sha256:abc", "random:seed=0", 8, PRE)
BOUNDS = {
    "Watches": [
        TierBound("budget", None, 100.0),
        TierBound("mid", 100.0, 500.5),
        TierBound("premium", 500.5, None),
    ],
    "Bags": [TierBound("budget", None, 40.0), TierBound("premium", 40.0, None)],
}


def make_manifest(version: str, model: ModelIdentity = MODEL) -> Manifest:
    return Manifest(
        version=version,
        model=model,
        index={"type": "flat", "metric": "inner_product", "factory": "Flat", "params": {}},
        counts={"products": 2, "vectors": 3},
        currency="EUR",
        tier_method="tertiles",
        tier_bounds=BOUNDS,
        catalog={"path": "catalog.csv", "sha256": "0" * 64},
    )


def publish(root: Path, seed: int = 0) -> str:
    """Build one complete version the way indexing does, and make it live."""
    with staged_version(root) as (version, staging):
        assert staging.parent == root and staging.name.startswith(STAGING_PREFIX)
        vectors = np.random.default_rng(seed).standard_normal((3, 8)).astype(np.float32)
        FlatIndex.build(vectors).save(staging)
        products = [
            ProductRecord(0, f"A{seed}", "a", None, "Bags", 10.0, "EUR", "budget", None, None, None),
            ProductRecord(1, f"B{seed}", "b", None, "Watches", 900.0, "EUR", "premium", None, None, None),
        ]
        write_store(staging / PRODUCTS_FILE, products, [(0, 0, "a.jpg"), (1, 1, "b.jpg"), (2, 1, "c.jpg")])
        write_manifest(staging, make_manifest(version))
    write_current(root, version)
    return version


def staging_folders(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.name.startswith(STAGING_PREFIX)]


# --- publish ---------------------------------------------------------------------------------------


def test_publish_and_open(tmp_path: Path) -> None:
    root = tmp_path / "indexes" / "shop"  # created on demand
    version = publish(root)
    assert (root / CURRENT_FILE).read_text(encoding="utf-8") == version + "\n"
    assert {p.name for p in (root / version).iterdir()} == {MANIFEST_FILE, VECTORS_FILE, PRODUCTS_FILE}
    assert staging_folders(root) == []
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]  # CURRENT's temp file is gone

    opened = open_current(root)
    assert isinstance(opened, BundleVersion)
    assert opened.path == root / version
    assert opened.vectors_path == root / version / VECTORS_FILE
    assert opened.products_path == root / version / PRODUCTS_FILE
    assert opened.manifest.version == version
    assert opened.manifest.model == MODEL
    assert opened.manifest.tier_bounds == BOUNDS
    # The files are usable.
    assert FlatIndex.load(opened.path).ntotal == 3
    store = ProductStore(opened.products_path)
    try:
        assert store.vector_ids_of(1) == [1, 2]
    finally:
        store.close()


def test_staged_version_is_not_live_until_current_is_written(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    with staged_version(root) as (version, staging):
        (staging / VECTORS_FILE).write_bytes(b"v")
        (staging / PRODUCTS_FILE).write_bytes(b"p")
        write_manifest(staging, make_manifest(version))
    assert (root / version).is_dir()
    with pytest.raises(BundleNotFoundError):
        open_current(root)
    write_current(root, version)
    assert open_current(root).manifest.version == version


def test_second_publish_switches_current_and_keeps_old_folder(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    first = publish(root, seed=1)
    second = publish(root, seed=2)
    assert first != second
    assert open_current(root).path == root / second
    assert (root / first / MANIFEST_FILE).is_file()  # readers of the old version are not pulled from under
    write_current(root, first)  # roll back
    assert open_current(root).manifest.version == first


def test_failure_while_staging_leaves_nothing_and_current_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    old = publish(root)
    current_before = (root / CURRENT_FILE).read_bytes()
    entries_before = sorted(p.name for p in root.iterdir())
    staged: list[Path] = []

    with pytest.raises(RuntimeError, match="embedding failed"), staged_version(root) as (version, staging):
        staged.append(staging)
        (staging / VECTORS_FILE).write_bytes(b"partial")
        write_manifest(staging, make_manifest(version))
        raise RuntimeError("embedding failed")

    assert not staged[0].exists()
    assert staging_folders(root) == []
    assert sorted(p.name for p in root.iterdir()) == entries_before
    assert (root / CURRENT_FILE).read_bytes() == current_before
    assert open_current(root).manifest.version == old


def test_keyboard_interrupt_while_staging_is_cleaned_up(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    with pytest.raises(KeyboardInterrupt), staged_version(root) as (_, staging):
        (staging / "x").write_bytes(b"x")
        raise KeyboardInterrupt
    assert list(root.iterdir()) == []


def test_staged_version_without_manifest_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    with pytest.raises(BundleError, match="no manifest"), staged_version(root) as (_, staging):
        (staging / VECTORS_FILE).write_bytes(b"v")
    assert list(root.iterdir()) == []


# --- open_current errors ---------------------------------------------------------------------------


def test_missing_root(tmp_path: Path) -> None:
    root = tmp_path / "nope"
    with pytest.raises(BundleNotFoundError) as info:
        open_current(root)
    assert "snapbuy index" in info.value.message
    assert str(root) in info.value.message
    assert not root.exists()  # opening never creates anything


def test_root_without_current(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    with pytest.raises(BundleNotFoundError, match="snapbuy index"):
        open_current(root)


def test_current_names_missing_folder(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    publish(root)
    write_current(root, "20990101T000000Z-gone")
    with pytest.raises(BundleError, match="20990101T000000Z-gone"):
        open_current(root)


def test_empty_current(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    publish(root)
    (root / CURRENT_FILE).write_text("\n", encoding="utf-8")
    with pytest.raises(BundleError):
        open_current(root)


@pytest.mark.parametrize("missing", [VECTORS_FILE, PRODUCTS_FILE])
def test_incomplete_version(tmp_path: Path, missing: str) -> None:
    root = tmp_path / "shop"
    version = publish(root)
    (root / version / missing).unlink()
    with pytest.raises(BundleError, match=missing.replace(".", r"\.")) as info:
        open_current(root)
    assert not isinstance(info.value, BundleNotFoundError)


def test_missing_manifest(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    version = publish(root)
    (root / version / MANIFEST_FILE).unlink()
    with pytest.raises(BundleError, match=MANIFEST_FILE):
        open_current(root)


def test_corrupt_manifest(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    version = publish(root)
    (root / version / MANIFEST_FILE).write_text("{ truncated", encoding="utf-8")
    with pytest.raises(BundleError, match="cannot read"):
        open_current(root)


def _edit_manifest(folder: Path, **changes: Any) -> None:
    path = folder / MANIFEST_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    path.write_text(json.dumps(data), encoding="utf-8")


def test_format_version_is_2() -> None:
    # 2 added availability and the sale price to products.sqlite; format 1 bundles lack those columns.
    assert FORMAT_VERSION == 2


@pytest.mark.parametrize("fmt", [1, FORMAT_VERSION + 1, 0, "2"])
def test_unsupported_format_version(tmp_path: Path, fmt: object) -> None:
    root = tmp_path / "shop"
    version = publish(root)
    _edit_manifest(root / version, format_version=fmt)
    with pytest.raises(BundleError, match="not supported") as info:
        open_current(root)
    assert repr(fmt) in info.value.message
    assert "snapbuy index" in info.value.message


def test_manifest_missing_field(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    version = publish(root)
    _edit_manifest(root / version, tiers=None)
    with pytest.raises(BundleError, match="malformed"):
        open_current(root)


# --- manifest --------------------------------------------------------------------------------------


def test_manifest_json_round_trip() -> None:
    manifest = make_manifest("20250101T000000Z-abcdef")
    data = json.loads(json.dumps(manifest.to_json()))  # through real JSON text
    back = Manifest.from_json(data)
    assert back == manifest
    assert back.tier_bounds["Watches"][0].min_price is None
    assert back.tier_bounds["Watches"][2].max_price is None
    assert back.tier_bounds["Watches"][1] == TierBound("mid", 100.0, 500.5)
    assert back.model.preprocessing == PRE


def test_manifest_records_the_contract_fields() -> None:
    data = make_manifest("v1").to_json()
    assert data["format_version"] == FORMAT_VERSION
    assert data["version"] == "v1"
    assert data["snapbuy_version"] == __version__
    assert data["created_at"]
    assert data["model"]["spec"] == MODEL.spec
    assert data["model"]["weights"] == "random:seed=0"
    assert data["model"]["random_weights"] is True  # random weights are flagged in the manifest
    assert data["embedding_dim"] == 8
    assert data["preprocessing"] == PRE
    assert data["index"]["type"] == "flat"
    assert data["counts"] == {"products": 2, "vectors": 3}
    assert data["currency"] == "EUR"
    assert data["catalog"]["sha256"] == "0" * 64
    assert data["tiers"]["method"] == "tertiles"
    assert data["tiers"]["bounds"]["Bags"] == [
        {"name": "budget", "min_price": None, "max_price": 40.0},
        {"name": "premium", "min_price": 40.0, "max_price": None},
    ]


def test_manifest_records_how_the_vectors_were_made() -> None:
    manifest = make_manifest("v1")
    manifest.vectors = {"catalog_views": 16, "view_seed": 0}
    data = json.loads(json.dumps(manifest.to_json()))
    assert data["vectors"] == {"catalog_views": 16, "view_seed": 0}
    assert Manifest.from_json(data).vectors == {"catalog_views": 16, "view_seed": 0}
    del data["vectors"]  # a bundle written before the field: nothing recorded, still readable
    assert Manifest.from_json(data).vectors == {}


def test_written_manifest_reads_back(tmp_path: Path) -> None:
    manifest = make_manifest("v2")
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert json.loads((tmp_path / MANIFEST_FILE).read_text(encoding="utf-8"))["version"] == "v2"


# --- model check -----------------------------------------------------------------------------------


def test_check_model_accepts_the_same_model(tmp_path: Path) -> None:
    bundle = BundleVersion(tmp_path, make_manifest("v"))
    bundle.check_model(MODEL)
    # The spec text may differ (another path to the same config); the model is what counts.
    bundle.check_model(ModelIdentity("./other/path.json:random", MODEL.architecture, MODEL.weights, 8, PRE))


@pytest.mark.parametrize(
    "other",
    [
        ModelIdentity(
            "ViT-B-32:laion2b_s34b_b79k", "ViT-B-32", "openclip:ViT-B-32/laion2b_s34b_b79k", 512, PRE
        ),
        ModelIdentity(MODEL.spec, MODEL.architecture, "sha256:" + "1" * 64, 8, PRE),
        ModelIdentity(MODEL.spec, "config-sha256:def", MODEL.weights, 8, PRE),
        ModelIdentity(MODEL.spec, MODEL.architecture, MODEL.weights, 16, PRE),
    ],
)
def test_check_model_refuses_another_model(tmp_path: Path, other: ModelIdentity) -> None:
    bundle = BundleVersion(tmp_path, make_manifest("v"))
    with pytest.raises(ModelMismatchError) as info:
        bundle.check_model(other)
    assert MODEL.spec in info.value.message
    assert other.spec in info.value.message
    assert "snapbuy index" in info.value.message
    assert info.value.exit_code == 7


def test_prune_versions_keeps_the_newest_and_the_live_one(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    for name in ["20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb", "20260103T000000Z-cccccc"]:
        (root / name).mkdir(parents=True)
    write_current(root, "20260101T000000Z-aaaaaa")  # live, though oldest (e.g. a rollback)
    fresh = root / f"{STAGING_PREFIX}20260104T000000Z-dddddd"
    stale = root / f"{STAGING_PREFIX}20251231T000000Z-eeeeee"
    fresh.mkdir()
    stale.mkdir()
    old = time.time() - 2 * 24 * 3600
    os.utime(stale, (old, old))

    removed = prune_versions(root, keep=1)

    assert sorted(removed) == sorted(["20260102T000000Z-bbbbbb", stale.name])
    left = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert left == sorted([fresh.name, "20260101T000000Z-aaaaaa", "20260103T000000Z-cccccc"])


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def test_prune_keeps_versions_a_live_server_leases(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    names = ["20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb", "20260103T000000Z-cccccc"]
    for name in names:
        (root / name).mkdir(parents=True)
    write_current(root, names[2])
    lease = take_lease(root, names[0])  # this process serves the oldest version
    assert lease.name == f"{names[0]}.{os.getpid()}"

    assert prune_versions(root, keep=1) == [names[1]]
    assert (root / names[0]).is_dir()

    release_lease(lease)
    assert prune_versions(root, keep=1) == [names[0]]
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == sorted(
        [CURRENT_FILE, names[2]]
    )


def test_prune_ignores_and_removes_leases_of_dead_processes(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    names = ["20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb"]
    for name in names:
        (root / name).mkdir(parents=True)
    write_current(root, names[1])
    (root / LEASES_DIR).mkdir()
    stale = root / LEASES_DIR / f"{names[0]}.{dead_pid()}"
    stale.write_text("")
    (root / LEASES_DIR / "not-a-lease.tmp").write_text("")

    assert leased_versions(root) == set()
    assert not stale.exists()
    assert prune_versions(root, keep=1) == [names[0]]
