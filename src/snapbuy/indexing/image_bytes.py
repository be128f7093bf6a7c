"""Every image job's bytes, or the reason there are none: remote links downloaded concurrently by
the fetcher (through its content cache), local files read on worker threads, confined to the image
root and to regular files by the catalog and the reader."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from snapbuy.catalog import ImageRef
from snapbuy.errors import ImageError
from snapbuy.fetching import Fetched, ImageFetcher, read_local_image


@dataclass(frozen=True, slots=True)
class ImageJob:
    product: int  # index into the catalog's products
    ref: ImageRef


@dataclass(frozen=True, slots=True)
class JobBytes:
    job: int  # index into the jobs
    data: bytes | None
    reason: str | None  # why data is None


def job_bytes(
    jobs: Sequence[ImageJob],
    fetcher: ImageFetcher | None,
    max_bytes: int,
    workers: int,
    on_fetched: Callable[[Fetched], None] | None = None,
) -> Iterator[JobBytes]:
    """Yield each job's bytes: unusable links first, then downloads in the order they finish, then
    local files in feed order. `on_fetched` hears of every download (progress, counts)."""
    remote: list[tuple[int, str]] = []
    local: list[int] = []
    for i, job in enumerate(jobs):
        ref = job.ref
        if ref.url is not None:
            remote.append((i, ref.url))
        elif ref.path is not None:
            local.append(i)
        else:
            yield JobBytes(i, None, ref.problem or "image link is neither a local file nor an http(s) URL")
    if remote:
        if fetcher is None:
            raise ValueError("remote image links need a fetcher")
        for fetched in fetcher.fetch(remote):
            if on_fetched is not None:
                on_fetched(fetched)
            yield JobBytes(fetched.key, fetched.data, fetched.reason)
    yield from _local_bytes(jobs, local, max_bytes, workers)


def _local_bytes(
    jobs: Sequence[ImageJob], local: Sequence[int], max_bytes: int, workers: int
) -> Iterator[JobBytes]:
    def read(i: int) -> JobBytes:
        path = jobs[i].ref.path
        assert path is not None
        try:
            return JobBytes(i, read_local_image(path, max_bytes), None)
        except ImageError as exc:
            return JobBytes(i, None, exc.message)

    # Windows of reads keep memory bounded however long the feed is.
    window = max(64, 8 * workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read") as pool:
        for start in range(0, len(local), window):
            yield from pool.map(read, local[start : start + window])
