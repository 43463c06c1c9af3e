"""Run many inputs through one model or workflow, a bounded number at a time.

The bookkeeping (result slots in input order, progress, stopping on the first error) is shared by
the sync and async drivers; each driver only decides how work runs: a pool of ``concurrency``
threads for `Client`, ``concurrency`` worker tasks for
`AsyncClient`. Every input goes through the client's ordinary ``run``, so retries
and rate-limit pacing apply to each one, with the pacing state shared by all workers.

Whatever one input raises goes into its own slot (an exception that is not a knouds error is
wrapped in one, the original as its ``__cause__``): one input never discards the paid results of
the others. When ``return_exceptions=False`` and an input fails, no further input is started; runs
already in flight are left to finish (their requests have reached the server and may be charged,
so abandoning them would save nothing), then the first error is raised.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Protocol, TypeAlias

from .._core.redaction import mask, scrub_chain
from .._exceptions import KnoudsError
from .._types import Inputs

if TYPE_CHECKING:
    from ..models import RunResult

__all__ = [
    "BatchOutcome",
    "BatchProgress",
    "IndexedProgress",
    "ProgressCallback",
    "run_workers",
    "run_workers_async",
]

BatchOutcome: TypeAlias = "RunResult | KnoudsError"
"""One slot of a batch: the input's result, or the error it raised."""

ProgressCallback: TypeAlias = "Callable[[int, int, RunResult | KnoudsError], object]"
"""Called as ``callback(done, total, outcome)`` after each input finishes."""

BatchProgress: TypeAlias = "bool | ProgressCallback | None"
"""``True`` for a tqdm bar (when tqdm is installed), a callback, or ``None``/``False``."""


class IndexedProgress:
    """A ``progress`` value that is also told which input each outcome belongs to.

    ``on_outcome(index, inputs, outcome)`` is called in the worker that ran input ``index``
    (``inputs`` as it was run: with its ``journal_key`` attribute in a journaled batch), once its
    slot is filled, outside the batch's lock (it may take its time, for example to save files,
    and does its own locking); ``progress`` is what the batch shows besides it (``True``, a
    callback or ``None``). The ``knouds batch`` command writes each result as its run ends with it.
    """

    def __init__(
        self,
        on_outcome: Callable[[int, Inputs, BatchOutcome], object],
        progress: BatchProgress = None,
    ) -> None:
        self.on_outcome = on_outcome
        self.progress = progress

    def __call__(self, done: int, total: int, outcome: RunResult | KnoudsError) -> object:
        return self.progress(done, total, outcome) if callable(self.progress) else None


class _Bar(Protocol):
    def update(self, n: int = 1) -> object: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> object: ...

    def close(self) -> None: ...


def _tqdm_bar(total: int, description: str) -> _Bar | None:
    """A tqdm progress bar (a widget in notebooks), or ``None`` when tqdm is not installed."""
    try:
        from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    bar: _Bar = tqdm(total=total, desc=description, unit="run")
    return bar


class _Batch:
    """Thread-safe bookkeeping for one batch: result slots, progress, and when to stop."""

    def __init__(
        self,
        inputs_list: Iterable[Inputs],
        concurrency: int,
        return_exceptions: bool,
        progress: BatchProgress,
        description: str,
        status: Callable[[int], str] | None = None,
        secret: str | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
        self._items = items = list(inputs_list)
        self.workers = max(1, min(concurrency, len(items)))
        """How many workers to start: ``concurrency``, or fewer for a smaller batch."""
        self._status = status
        self.secret = secret
        """The API key: masked in the message of an unexpected error put in a slot."""
        self._on_outcome: Callable[[int, Inputs, BatchOutcome], object] | None = None
        if isinstance(progress, IndexedProgress):
            self._on_outcome, progress = progress.on_outcome, progress.progress
        self._slots: list[BatchOutcome | None] = [None] * len(items)
        self._return_exceptions = return_exceptions
        self._lock = threading.Lock()
        self._next = 0
        self._done = 0
        self._stopped = False
        self._first_error: KnoudsError | None = None
        self._callback: ProgressCallback | None = None
        self._bar: _Bar | None = None
        if progress is True:
            self._bar = _tqdm_bar(len(items), description)
            if self._bar is not None and status is not None:
                self._bar.set_postfix_str(status(0), refresh=False)
        elif callable(progress):
            self._callback = progress

    def take(self) -> tuple[int, Inputs] | None:
        """The next input to run with its index, or ``None`` when there is none or we stopped."""
        with self._lock:
            if self._stopped or self._next >= len(self._items):
                return None
            index = self._next
            self._next += 1
            return index, self._items[index]

    def record(self, index: int, outcome: BatchOutcome) -> None:
        """Store one input's outcome and report progress (progress calls are serialised)."""
        with self._lock:
            self._slots[index] = outcome
            self._done += 1
            if isinstance(outcome, KnoudsError) and not self._return_exceptions:
                self._stopped = True
                if self._first_error is None:
                    self._first_error = outcome
            if self._bar is not None:
                if self._status is not None:  # e.g. credits so far and the projected total
                    self._bar.set_postfix_str(self._status(self._done), refresh=False)
                self._bar.update(1)
            if self._callback is not None:
                self._callback(self._done, len(self._items), outcome)
        if self._on_outcome is not None:
            self._on_outcome(index, self._items[index], outcome)

    def abort(self) -> None:
        """Start nothing more (an unexpected exception or an interruption is propagating)."""
        with self._lock:
            self._stopped = True

    def close(self) -> None:
        """Close the progress bar, if any."""
        if self._bar is not None:
            self._bar.close()

    def outcome(self) -> list[BatchOutcome]:
        """The slots in input order, or the first error when the batch stops on errors."""
        if self._first_error is not None:
            raise self._first_error
        missing = [i for i, slot in enumerate(self._slots) if slot is None]
        if missing:  # pragma: no cover - every path either fills each slot or raises
            raise AssertionError(f"inputs {missing} did not run")
        return [slot for slot in self._slots if slot is not None]


def _as_outcome(error: Exception, secret: str | None = None) -> KnoudsError:
    """What an input's failure puts in its slot: a knouds error, whatever was raised (its text
    is foreign: the key is masked in it, and it is chained only once it shows no key)."""
    if isinstance(error, KnoudsError):
        return error
    text = mask(str(error), secret)
    wrapped = KnoudsError(f"This input failed with an unexpected {type(error).__name__}: {text}")
    wrapped.__cause__ = error if scrub_chain(error, secret) else None
    return wrapped


def run_workers(batch: _Batch, work: Callable[[], None]) -> None:
    """Call ``work`` from a pool of ``batch.workers`` threads, then close the batch."""
    from concurrent.futures import ThreadPoolExecutor  # loaded by the first batch, not at import

    try:
        with ThreadPoolExecutor(batch.workers, thread_name_prefix="knouds-batch") as pool:
            # Each worker runs in a copy of the caller's context: its runs' spans nest under the
            # caller's (the batch's) span, as asyncio tasks' do.
            futures = [
                pool.submit(contextvars.copy_context().run, work) for _ in range(batch.workers)
            ]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                # Interrupted or a worker crashed: start nothing more; leaving the ``with``
                # block lets the runs already in flight finish.
                batch.abort()
                raise
    finally:
        batch.close()


async def run_workers_async(batch: _Batch, work: Callable[[], Awaitable[None]]) -> None:
    """Await ``work`` from ``batch.workers`` worker tasks, then close the batch."""
    import asyncio  # here: sync programs never load asyncio for the SDK

    tasks = [asyncio.ensure_future(work()) for _ in range(batch.workers)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # A worker crashed or this batch was cancelled: stop the others and wait for them.
        batch.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        batch.close()
