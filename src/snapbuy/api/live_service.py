"""The search service a running server answers with, swapped for a newly published index version
without a restart. Requests hold a lease on the service they use; a new version is loaded beside the
served one, the switch is one assignment under a lock, and the old service is closed when its last
lease ends, so no request ever sees a closed service. While a process serves a version it keeps a lease
file on it (bundle.take_lease), so pruning by an indexing run leaves that version alone."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from snapbuy.bundle import Manifest, read_current, release_lease, take_lease
from snapbuy.embed.base import Embedder
from snapbuy.errors import NotReadyError, SnapbuyError
from snapbuy.search import SearchService

log = logging.getLogger(__name__)

# Given the served service, a service over the index's live version (loading.reopen_service).
LoadNext = Callable[[SearchService], SearchService]


def error_text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, SnapbuyError) else f"{type(exc).__name__}: {exc}"


@dataclass(eq=False)
class _Slot:
    service: SearchService
    owned: bool  # closed by the holder; an injected service belongs to its caller
    lease_file: Path | None
    leases: int = 0
    retired: bool = False

    @property
    def version(self) -> str:
        return self.service.bundle.path.name


class ServiceHolder:
    def __init__(self, index_root: Path, load_next: LoadNext) -> None:
        self._root = index_root
        self._load_next = load_next
        self._lock = threading.Lock()  # guards the slots; held only for a few assignments
        self._reload_lock = threading.Lock()  # one reload at a time
        self._slot: _Slot | None = None
        self._closed = False
        self._failed_version: str | None = None
        self.load_error: str | None = None  # why the first service could not be loaded
        self.last_reload_error: str | None = None  # why the newest version is not served

    @property
    def version(self) -> str | None:
        """The version served now (None before the first service is installed)."""
        slot = self._slot
        return None if slot is None else slot.version

    @property
    def ready(self) -> bool:
        return self._slot is not None

    def install(self, service: SearchService, *, owned: bool) -> None:
        """Serve `service` from now on; the one served before closes when its last lease ends."""
        new = _Slot(service, owned, self._take_lease(service))
        with self._lock:
            closed = self._closed
            retire = None if closed else self._retire(self._slot)
            if not closed:
                self._slot = new
        if closed:  # the server stopped while this was loading
            self._close(new)
        elif retire:
            self._close(retire)

    @contextmanager
    def lease(self) -> Iterator[SearchService]:
        """The served service, kept open until the block ends even if a new version is swapped in."""
        with self._lock:
            slot = self._slot
            if slot is None:
                raise NotReadyError(self.load_error or "model and index are still loading")
            slot.leases += 1
        try:
            yield slot.service
        finally:
            with self._lock:
                slot.leases -= 1
                done = slot.retired and slot.leases == 0
            if done:
                self._close(slot)

    def served_manifest(self) -> Manifest | None:
        """The served version's manifest (held in memory), or None while nothing is served."""
        slot = self._slot
        return None if slot is None else slot.service.bundle.manifest

    def served_embedder(self) -> Embedder | None:
        """The served version's embedder (shared by every version a server loads), or None."""
        slot = self._slot
        return None if slot is None else slot.service.embedder

    def reload(self) -> bool:
        """Serve the index's live version if it is a new one; True when it was swapped in. A version
        that fails to load is reported once and not tried again; the served one stays."""
        with self._reload_lock:
            slot = self._slot
            if slot is None or self._closed:
                return False
            try:
                version = read_current(self._root)
            except OSError as exc:
                log.warning("cannot read the live version of %s: %s", self._root, exc)
                return False
            if version is None or version in (slot.version, self._failed_version):
                return False
            try:
                service = self._load_next(slot.service)
            except Exception as exc:  # a bad version must never take the server down
                self._failed_version = version
                self.last_reload_error = f"index version {version}: {error_text(exc)}"
                log.error("still serving %s: cannot load %s", slot.version, self.last_reload_error)
                return False
            self.install(service, owned=True)
            self._failed_version = self.last_reload_error = None
            log.info("now serving index version %s (was %s)", service.bundle.path.name, slot.version)
            return True

    def close(self) -> None:
        """Stop serving: the served service closes when its last lease ends (at once if none)."""
        with self._lock:
            self._closed = True
            retire = self._retire(self._slot)
            self._slot = None
        if retire:
            self._close(retire)

    def _retire(self, slot: _Slot | None) -> _Slot | None:
        """Mark `slot` retired (holding the lock); returns it when nobody holds a lease on it."""
        if slot is None:
            return None
        slot.retired = True
        return slot if slot.leases == 0 else None

    def _take_lease(self, service: SearchService) -> Path | None:
        try:
            return take_lease(self._root, service.bundle.path.name)
        except OSError as exc:  # e.g. a read-only index: serving matters more than pruning
            log.warning("cannot write a lease on %s (pruning may delete it): %s", service.bundle.path, exc)
            return None

    def _close(self, slot: _Slot) -> None:
        if slot.lease_file is not None:
            release_lease(slot.lease_file)
        if slot.owned:
            slot.service.close()
