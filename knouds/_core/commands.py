"""The commands of the run pipeline (``pipeline``), and what they ask of the journal and of the
spend ledger.

A flow yields a command; a driver performs it and resumes the flow with what it gave. `Send`,
`Sleep` and `StoreCall` (``attempt``, ``pacing``) are the attempt's; the others are the run's:
the driver calls their `perform` (`Blocking`), in a worker thread on the async client when it
may block, and to the end even after an interrupt when it ``must_land``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final, Protocol

from ..models import Execution
from .attempt import Send, Sleep, Verdict
from .journal import JournalClaim, JournalEntry
from .pacing import StoreCall
from .spend import RunRef

__all__ = [
    "COST_PENDING",
    "Blocking",
    "Claim",
    "Command",
    "CostPendingType",
    "Follow",
    "Hold",
    "JournalBackend",
    "Observe",
    "Record",
    "Settle",
    "SpendLedger",
    "Unclaim",
]


@dataclass(frozen=True, slots=True)
class CostPendingType:
    """What a `Hold` resumes the flow with while another run of the same model or workflow, of
    a cost not known yet, is in flight: the flow waits and asks again. It carries the limit the
    run waits under and what that limit had counted, for the refusal when the call's deadline
    ends the wait."""

    limit: float = 0.0
    spent: float = 0.0
    held: float = 0.0
    scope: str = "client"

    def __repr__(self) -> str:
        return f"COST_PENDING(limit={self.limit:g}, scope={self.scope!r})"


COST_PENDING: Final = CostPendingType()
"""A `CostPendingType` that names no limit."""


# -- what the pipeline asks of the journal and of the spend ledger -------------------------------


class JournalBackend(Protocol):
    """What the pipeline needs of a run journal (`knouds.Journal` provides it)."""

    offload: bool

    def claim(
        self, key: str, target: str, inputs_hash: str, token: str, replace_token: str | None
    ) -> JournalClaim: ...

    def record(self, entry: JournalEntry, **changes: Any) -> bool: ...

    def abandon(self, key: str, token: str, error: dict[str, Any]) -> bool: ...

    def is_alive(self, entry: JournalEntry, now: float) -> bool: ...

    def mark_in_flight(self, token: str) -> None: ...

    def within(self, seconds: float | None) -> AbstractContextManager[None]: ...

    def mark_done(self, token: str) -> None: ...


class SpendLedger(Protocol):
    """What the pipeline needs of a client's budget, usage and learned costs."""

    def blocking(self) -> bool: ...

    def limited(self, batch: Any) -> bool: ...

    def unheld(self, ref: RunRef, batch: Any) -> Any: ...

    def begin(self, ref: RunRef, batch: Any, submission: bool) -> Any: ...

    def finish(self, ticket: Any, value: object) -> None: ...

    def fail(self, ticket: Any, verdict: Verdict) -> None: ...

    def observe(self, execution: Execution) -> None: ...


# -- commands ----------------------------------------------------------------------------------


class Blocking(Protocol):
    """A command the driver performs by calling `perform`: in a worker thread when ``blocking``
    (on the async client), to the end even after an interrupt when ``must_land``."""

    @property
    def blocking(self) -> bool: ...

    @property
    def must_land(self) -> bool: ...

    def perform(self) -> object: ...


@dataclass(slots=True)
class Claim:
    """Claim a journal key for this run; resumes with the journal's `JournalClaim`."""

    journal: JournalBackend
    key: str
    target: str
    inputs_hash: str
    token: str
    replace_token: str | None
    timeout: float | None = None  # what is left of the call's deadline
    must_land = False

    @property
    def blocking(self) -> bool:
        return self.journal.offload

    def perform(self) -> JournalClaim:
        with self.journal.within(self.timeout):
            return self.journal.claim(
                self.key, self.target, self.inputs_hash, self.token, self.replace_token
            )


@dataclass(slots=True)
class Unclaim:
    """Hand back a claim that may have been written while the run was interrupted before its
    request was built (``rejected``: the next run of the key sends it)."""

    journal: JournalBackend
    key: str
    token: str
    error: dict[str, Any]
    timeout: float | None = None  # bounds the wait when the call has a deadline
    must_land = True

    @property
    def blocking(self) -> bool:
        return self.journal.offload

    def perform(self) -> bool:
        with self.journal.within(self.timeout):
            return self.journal.abandon(self.key, self.token, self.error)


@dataclass(slots=True)
class Record:
    """Record how a claimed run went (compare-and-set on the claim's token)."""

    journal: JournalBackend
    entry: JournalEntry
    changes: dict[str, Any]
    must_land = True

    @property
    def blocking(self) -> bool:
        return self.journal.offload

    def perform(self) -> bool:
        return self.journal.record(self.entry, **self.changes)


@dataclass(slots=True)
class Hold:
    """Hold a run's expected cost under the client's budget and the batch's ``max_credits``;
    resumes with the ledger's ticket, or raises `BudgetExceededError`."""

    ledger: SpendLedger
    ref: RunRef
    batch: Any
    submission: bool
    must_land = False

    @property
    def blocking(self) -> bool:
        return self.ledger.blocking()

    def perform(self) -> object:
        return self.ledger.begin(self.ref, self.batch, self.submission)


@dataclass(slots=True)
class Settle:
    """Turn a run's holds into what it was charged, and count it in the usage."""

    ledger: SpendLedger
    ticket: object
    value: object = None
    verdict: Verdict | None = None  # set for a run that ended in an error or an interrupt
    must_land = True

    @property
    def blocking(self) -> bool:
        return self.ledger.blocking()

    def perform(self) -> None:
        if self.verdict is None:
            self.ledger.finish(self.ticket, self.value)
        else:
            self.ledger.fail(self.ticket, self.verdict)


@dataclass(slots=True)
class Observe:
    """Count a submitted execution's cost once it is seen ended (``executions.get``/``wait``)."""

    ledger: SpendLedger
    execution: Execution
    must_land = True

    @property
    def blocking(self) -> bool:
        return self.ledger.blocking()

    def perform(self) -> None:
        self.ledger.observe(self.execution)


@dataclass(slots=True)
class Follow:
    """Make another public call of the same client (waiting on a journaled run's execution):
    the driver calls ``fn(*args)`` (awaiting it on the async client) and resumes with its value.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


Command = Sleep | Send | StoreCall | Claim | Unclaim | Record | Hold | Settle | Observe | Follow
