"""The on-disk index bundle: indexes/<name>/<version>/{manifest.json, vectors.faiss, products.sqlite,
thumbnails/} and indexes/<name>/CURRENT. A version is built in a hidden staging folder, renamed into
place whole, and only then made live by replacing CURRENT, so a crash never leaves a half-written live
index."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snapbuy import __version__
from snapbuy.atomic import fsync_folder, write_text_atomically
from snapbuy.embed.base import ModelIdentity
from snapbuy.errors import BundleError, BundleNotFoundError, ModelMismatchError
from snapbuy.index.files import VECTORS_FILE
from snapbuy.tiers import TierBound, bounds_from_json, bounds_to_json

FORMAT_VERSION = 2  # 2: availability and sale price columns in products.sqlite
CURRENT_FILE = "CURRENT"
MANIFEST_FILE = "manifest.json"
PRODUCTS_FILE = "products.sqlite"
# Small JPEGs of the products' local catalog images, <row>.jpg, that the server shows shoppers.
THUMBNAILS_FOLDER = "thumbnails"
STAGING_PREFIX = ".staging-"
# A server writes LEASES_DIR/<version>.<pid> for the version it serves; prune leaves such versions alone.
LEASES_DIR = ".leases"
# A staging folder this old belongs to a run that died (killed, power loss), not to one still going.
STALE_STAGING_SECONDS = 24 * 3600


@dataclass
class Manifest:
    version: str
    model: ModelIdentity
    index: dict[str, Any]
    counts: dict[str, int]
    currency: str
    tier_method: str
    tier_bounds: dict[str, list[TierBound]]
    catalog: dict[str, Any]
    # How the vectors were made beyond the model: catalog views per image (catalog_views.py), seed.
    vectors: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    snapbuy_version: str = __version__
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "version": self.version,
            "created_at": self.created_at,
            "snapbuy_version": self.snapbuy_version,
            "model": self.model.to_json(),
            "embedding_dim": self.model.dim,
            "preprocessing": self.model.preprocessing,
            "index": self.index,
            "counts": self.counts,
            "currency": self.currency,
            "tiers": {"method": self.tier_method, "bounds": bounds_to_json(self.tier_bounds)},
            "catalog": self.catalog,
            "vectors": self.vectors,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"index bundle format {data.get('format_version')!r} is not supported "
                f"(this snapbuy reads format {FORMAT_VERSION}); rebuild it with `snapbuy index`"
            )
        return cls(
            version=data["version"],
            model=ModelIdentity.from_json(data["model"], data.get("preprocessing", {})),
            index=dict(data["index"]),
            counts={k: int(v) for k, v in data["counts"].items()},
            currency=data["currency"],
            tier_method=data["tiers"]["method"],
            tier_bounds=bounds_from_json(data["tiers"]["bounds"]),
            catalog=dict(data["catalog"]),
            vectors=dict(data.get("vectors", {})),  # bundles written before it record none
            created_at=data["created_at"],
            snapbuy_version=data["snapbuy_version"],
        )


@dataclass(frozen=True)
class BundleVersion:
    path: Path
    manifest: Manifest

    @property
    def vectors_path(self) -> Path:
        return self.path / VECTORS_FILE

    @property
    def products_path(self) -> Path:
        return self.path / PRODUCTS_FILE

    def thumbnail_path(self, product_row: int) -> Path:
        """Where the thumbnail of the product stored at `product_row` is, if it has one."""
        return thumbnail_path(self.path, product_row)

    def check_model(self, model: ModelIdentity) -> None:
        """Refuse to search an index with a model other than the one that built it."""
        built = self.manifest.model
        if not built.same_model(model):
            raise ModelMismatchError(
                f"index {self.path} was built with model {built.spec!r} ({built.architecture}, "
                f"{built.weights}, dim {built.dim}) but the loaded model is {model.spec!r} "
                f"({model.architecture}, {model.weights}, dim {model.dim}); use the index's model "
                "or rebuild the index with `snapbuy index --model ...`"
            )


def thumbnail_path(version_folder: Path, product_row: int) -> Path:
    """The thumbnail file of a product row in a version's folder (staged or published): named by the
    row, a number, so no catalog text ever becomes part of a path."""
    return version_folder / THUMBNAILS_FOLDER / f"{int(product_row)}.jpg"


def new_version_name() -> str:
    # Microseconds keep name order equal to creation order even for runs in the same second.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def _fsync_tree(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir():  # the thumbnails' folder
            _fsync_tree(child)
        elif child.is_file():
            with child.open("rb") as fh:
                os.fsync(fh.fileno())
    fsync_folder(path)


def write_current(root: Path, version: str) -> None:
    write_text_atomically(root / CURRENT_FILE, version + "\n")


@contextmanager
def staged_version(root: Path) -> Iterator[tuple[str, Path]]:
    """Yield (version, staging folder). On clean exit the folder is renamed into place; on error it is
    removed and CURRENT is untouched. Call publish() afterwards to make the version live."""
    root.mkdir(parents=True, exist_ok=True)
    version = new_version_name()
    staging = root / f"{STAGING_PREFIX}{version}"
    staging.mkdir()
    try:
        yield version, staging
        if not (staging / MANIFEST_FILE).is_file():
            raise BundleError("internal error: staged index version has no manifest")
        _fsync_tree(staging)
        os.rename(staging, root / version)
        fsync_folder(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def prune_versions(root: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` versions (never the live one, nor one a live server holds a
    lease on) and stale staging folders."""
    live = read_current(root)
    # Version names start with a UTC timestamp, so name order is age order.
    versions = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    held = leased_versions(root)
    doomed = [v for v in versions[: max(0, len(versions) - keep)] if v != live and v not in held]
    now = time.time()
    doomed += [
        p.name
        for p in root.iterdir()
        if p.name.startswith(STAGING_PREFIX) and now - p.stat().st_mtime > STALE_STAGING_SECONDS
    ]
    for name in doomed:
        shutil.rmtree(root / name, ignore_errors=True)
    return doomed


def take_lease(root: Path, version: str) -> Path:
    """Mark `version` as served by this process until release_lease(); prune_versions keeps it."""
    folder = root / LEASES_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{version}.{os.getpid()}"
    write_text_atomically(path, "")
    return path


def release_lease(lease: Path) -> None:
    lease.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def leased_versions(root: Path) -> set[str]:
    """Versions some live process holds a lease on. Leases of dead processes are removed."""
    folder = root / LEASES_DIR
    if not folder.is_dir():
        return set()
    held: set[str] = set()
    for lease in folder.iterdir():
        version, _, pid = lease.name.rpartition(".")
        if not version or not pid.isdigit() or int(pid) == 0:
            continue  # not a lease (e.g. a temporary file of one being written)
        if _pid_alive(int(pid)):
            held.add(version)
        else:
            release_lease(lease)
    return held


def write_manifest(folder: Path, manifest: Manifest) -> None:
    text = json.dumps(manifest.to_json(), indent=2, sort_keys=False)
    (folder / MANIFEST_FILE).write_text(text + "\n", encoding="utf-8")


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"index version {folder} has no {MANIFEST_FILE}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from exc
    try:
        return Manifest.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{path} is missing or has a malformed field: {exc}") from exc


def read_current(root: Path) -> str | None:
    """The live version's folder name, or None when the bundle has no CURRENT file yet."""
    current = root / CURRENT_FILE
    return current.read_text(encoding="utf-8").strip() if current.is_file() else None


def open_current(root: Path) -> BundleVersion:
    current = root / CURRENT_FILE
    version = read_current(root)
    if version is None:
        raise BundleNotFoundError(
            f"no index at {root} (no {CURRENT_FILE} file); "
            f"build one with `snapbuy index CATALOG --index {root}`"
        )
    folder = root / version
    if not version or not folder.is_dir():
        raise BundleError(f"{current} names version {version!r}, which is not a folder in {root}")
    for name in (VECTORS_FILE, PRODUCTS_FILE):
        if not (folder / name).is_file():
            raise BundleError(f"index version {folder} is incomplete: {name} is missing")
    return BundleVersion(folder, read_manifest(folder))
