"""The plan of one public call, as the run pipeline (``pipeline``) runs it: its request context,
how its answer is read, and what it involves (the spend ledger, the journal)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .attempt import CallContext, Parse
from .commands import JournalBackend, SpendLedger
from .spend import RunRef

__all__ = ["Call", "Journaling", "Spending"]

T = TypeVar("T")


@dataclass(slots=True)
class Spending:
    """A run's place in the spend ledger: which model or workflow, and which batch."""

    ledger: SpendLedger
    ref: RunRef
    batch: Any = None
    submission: bool = False
    limited: bool = True  # under a budget or a batch's max_credits: the run holds its cost


@dataclass(slots=True)
class Journaling:
    """How a journaled run is recorded and followed.

    ``wait(id, timeout=...)`` waits for an execution's result and ``get(id)`` reads its state
    (both public calls of the same client). ``deadline`` bounds the whole call, waits for a run
    in flight elsewhere included.
    """

    journal: JournalBackend
    key: str
    target: str
    inputs_hash: str
    wait: Callable[..., Any]
    get: Callable[[str], Any]
    want_execution: bool = False
    then_wait: bool = False  # a batch's submission: wait for its result after recording it
    resend_unknown: bool = False
    secret: str | None = field(default=None, repr=False)  # kept out of stored errors
    deadline: float | None = None


@dataclass(slots=True)
class Call(Generic[T]):
    """One public call: its request context, how its answer is read, and what it involves."""

    ctx: CallContext
    parse: Parse[T]
    spending: Spending | None = None
    journaling: Journaling | None = None
    observe: SpendLedger | None = None  # count the cost of the execution it returns, if ended
