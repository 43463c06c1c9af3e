# Generated from knouds/_async/batch.py by scripts/unasync.py:
# edit that file, not this one.
"""The batch driver of `Client`: ``run_many`` runs its inputs through `run_batch`,
``concurrency`` at a time (the bookkeeping both clients share is in `knouds._base.batch`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .._base.batch import BatchOutcome, BatchProgress, _as_outcome, _Batch, run_workers
from .._types import Inputs

if TYPE_CHECKING:
    from ..models import RunResult

__all__ = ["run_batch"]


def _work(batch: _Batch, run: Callable[[Inputs], RunResult]) -> None:
    """Run inputs until the batch has none left or stops."""
    while (job := batch.take()) is not None:
        index, inputs = job
        try:
            outcome: BatchOutcome = run(inputs)
        except Exception as error:
            outcome = _as_outcome(error, batch.secret)
        except BaseException:
            batch.abort()
            raise
        batch.record(index, outcome)


def run_batch(
    run: Callable[[Inputs], RunResult],
    inputs_list: Iterable[Inputs],
    *,
    concurrency: int,
    return_exceptions: bool,
    progress: BatchProgress,
    description: str = "",
    status: Callable[[int], str] | None = None,
    secret: str | None = None,
) -> list[BatchOutcome]:
    """Call ``run`` on each input from ``concurrency`` worker tasks.

    Args:
        run: runs one input (the client's ``run`` with the name and options bound).
        inputs_list: the inputs, one mapping per run.
        concurrency: how many runs may be in flight at once.
        return_exceptions: put each input's `KnoudsError` in its slot instead of
            raising the first one.
        progress: ``True`` for a tqdm bar, or a ``callback(done, total, outcome)``.
        description: the progress bar's label.
        status: ``status(done)`` gives a note shown after the progress bar.
        secret: the API key, masked in the message of an unexpected error put in a slot.

    Returns:
        One outcome per input, in input order.
    """
    batch = _Batch(
        inputs_list, concurrency, return_exceptions, progress, description, status, secret
    )
    run_workers(batch, lambda: _work(batch, run))
    return batch.outcome()
