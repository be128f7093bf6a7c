"""The index lock (indexing/lock.py): one run per index, a clear refusal, waiting when asked."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from snapbuy.errors import IndexBusyError
from snapbuy.indexing.lock import index_lock


def test_a_second_holder_is_refused_with_who_holds_it(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    with index_lock(root), pytest.raises(IndexBusyError) as err, index_lock(root):
        pass
    message = err.value.message
    assert str(root) in message and "--wait-for-lock" in message
    assert "process " in message  # the holder's pid, from the owner note
    assert err.value.exit_code == 10


def test_the_lock_is_free_again_after_release_and_after_an_error(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    with pytest.raises(RuntimeError), index_lock(root):
        raise RuntimeError("run failed")
    with index_lock(root):
        pass  # acquired: the failed holder released it


def test_a_waiting_run_gets_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    held = threading.Event()

    def hold_briefly() -> None:
        with index_lock(root):
            held.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    assert held.wait(10)
    started = time.monotonic()
    with index_lock(root, wait_seconds=30):
        waited = time.monotonic() - started
    holder.join(10)
    assert waited > 0.1  # it did wait for the holder rather than barging in


def test_waiting_too_long_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    with (
        index_lock(root),
        pytest.raises(IndexBusyError, match=r"after waiting 0\.2 s"),
        index_lock(root, wait_seconds=0.2),
    ):
        pass
