"""The product localiser's training in a process of its own, side by side with the CLIP model's.

On a CPU the two small nets make poor use of a second thread each (torch's kernels for them are too
small), so the two trainings run at the same time, each on half the threads, rather than one after the
other on all of them: both get more steps in the same minutes
(docs/experiments/2026-11-30-localiser.md#side-by-side-training).
On a GPU both train one after the other there."""

from __future__ import annotations

import io
import logging
import multiprocessing
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

import torch
from PIL import Image

from snapbuy.errors import SnapbuyError
from snapbuy.imaging import LOCAL_FILE_MAX_BYTES, LOCAL_FILE_MAX_PIXELS, load_image_file
from snapbuy.localiser import ProductMapNet
from snapbuy.train.localiser_training import INPUT_SIDE, localiser_cut_out, train_localiser

log = logging.getLogger(__name__)

# How long to wait for the process to exit once it has sent its result or been told to stop.
EXIT_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class TrainedLocaliser:
    data: bytes  # the localiser as ProductLocaliser.save writes it
    losses: list[float]  # the loss of every step
    threads: int  # CPU threads it trained with
    precision: str  # "fp32" or "bf16" (train/precision.py)


def trains_beside_model(device: torch.device, threads: int | None = None) -> bool:
    """Whether the localiser trains in its own process beside the model: on a CPU with two threads or
    more (`threads`: the model's thread count, torch's current one by default)."""
    return device.type == "cpu" and (threads or torch.get_num_threads()) >= 2


def cut_outs_of(image_paths: Sequence[Path]) -> list[Image.Image]:
    """The localiser's cut-out of each catalog image."""
    return [
        localiser_cut_out(
            load_image_file(path, max_bytes=LOCAL_FILE_MAX_BYTES, max_pixels=LOCAL_FILE_MAX_PIXELS)
        )
        for path in image_paths
    ]


def train_here(
    cut_outs: Sequence[Image.Image],
    seconds: float,
    seed: int,
    device: torch.device,
    precision: str,
    max_steps: int | None = None,
    start_from: ProductMapNet | None = None,
    input_side: int = INPUT_SIDE,
) -> TrainedLocaliser:
    """Train on the products' cut-outs in this process, on `device` in `precision` ("fp32" or
    "bf16"), with torch's current threads, for `seconds` or `max_steps` steps, whichever ends first;
    from `start_from`'s weights when given, on scenes whose short side is `input_side`."""
    localiser, losses = train_localiser(
        cut_outs,
        seconds,
        seed,
        max_steps=max_steps,
        device=device,
        precision=precision,
        start_from=start_from,
        input_side=input_side,
    )
    buffer = io.BytesIO()
    localiser.save(buffer)
    return TrainedLocaliser(buffer.getvalue(), losses, torch.get_num_threads(), precision)


def _portable(exc: BaseException) -> BaseException:
    """`exc` if the parent can unpickle it, else a SnapbuyError that says what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return SnapbuyError(f"training the product localiser failed: {type(exc).__name__}: {exc}")
    return exc


def _child(
    sender: Connection,
    image_paths: list[Path],
    seconds: float,
    seed: int,
    threads: int,
    precision: str,
    max_steps: int | None,
) -> None:
    try:
        torch.set_num_threads(threads)
        # The images are read again here: cheaper than sending a thousand cut-outs down the pipe,
        # and done while the model trains.
        cut_outs = cut_outs_of(image_paths)
        sender.send(train_here(cut_outs, seconds, seed, torch.device("cpu"), precision, max_steps))
    except BaseException as exc:
        if not isinstance(exc, SnapbuyError | KeyboardInterrupt):
            log.error("training the product localiser failed", exc_info=exc)  # the traceback, on stderr
        sender.send(_portable(exc))
    finally:
        sender.close()


class LocaliserProcess:
    """Starts training at once in a spawned process (forking a process whose torch thread pool is
    running is unsafe); `result()` waits for it. Leaving the `with` block stops a process still
    running, so an interrupted or failed model training leaves no localiser training behind."""

    def __init__(
        self,
        image_paths: Sequence[Path],
        seconds: float,
        seed: int,
        threads: int,
        precision: str = "fp32",
        *,
        max_steps: int | None = None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_child,
            args=(sender, list(image_paths), seconds, seed, threads, precision, max_steps),
            name="snapbuy-localiser-training",
            daemon=True,
        )
        self._process.start()
        sender.close()  # only the child holds the sending end: a child that dies reads as EOF here

    def finished(self) -> bool:
        """Whether the process has sent its result (or ended without one): result() will not wait."""
        return self._receiver.poll()

    def result(self) -> TrainedLocaliser:
        try:
            outcome = self._receiver.recv()
        except EOFError:
            self._process.join(EXIT_WAIT_SECONDS)
            raise SnapbuyError(
                "the product localiser's training process ended without a result "
                f"(exit code {self._process.exitcode})"
            ) from None
        self._process.join(EXIT_WAIT_SECONDS)
        if isinstance(outcome, BaseException):
            raise outcome
        if not isinstance(outcome, TrainedLocaliser):
            raise SnapbuyError(f"the product localiser's training process sent {type(outcome).__name__}")
        return outcome

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(EXIT_WAIT_SECONDS)
        self._receiver.close()

    def __enter__(self) -> LocaliserProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
