"""The run pipeline: every public call as one sans-I/O generator of commands.

A call is planned once (`Call`), then run by `call_flow`, which yields typed commands and
receives what performing them gave. The drivers (``knouds/_async/driver.py``, and the sync one
generated from it) perform the commands and do nothing else. In order::

    Claim (journal) -> Hold (budget) -> [Pace -> Sleep -> Send -> Release] per attempt
        -> Settle (budget, usage) -> Record (journal)

A plain call (no journal, no budget) yields only what its attempts need; a run adds a `Settle`
(its usage, even without a budget); a journaled run adds a `Claim` and a `Record`.

The rules, kept here and nowhere else:

- **One truth about sending.** Each call has one `Dispatch`. The attempts update it as they go
  (an answer refusing the request proves nothing ran; an error after the request started to
  leave leaves it open). The journal (``rejected`` or ``unknown``), the budget (release or
  charge) and the usage (confirmed or not) all read the one `verdict` made from it.
- **Every exit goes through the flow.** Whatever the driver meets (a knouds error, a test's
  ``AssertionError``, ``KeyboardInterrupt``, ``SystemExit``, a task-queue time limit, a
  cancellation) is thrown into the generator at the command it interrupted; the flow settles
  and records, then lets it propagate. Only ``GeneratorExit`` (the generator being closed) skips
  this: nothing can be yielded then.
- **Writes that must land.** Commands with ``must_land`` are performed even after an interrupt
  (the driver delivers the interrupt at the next command that may be skipped); a claim or a hold
  under way when the caller is cancelled completes, and the flow undoes it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Generator
from dataclasses import replace
from typing import Any, TypeVar

from .._exceptions import (
    BudgetExceededError,
    ExecutionCancelledError,
    ExecutionFailedError,
    IdempotencyConflictError,
    JournalError,
    KnoudsError,
)
from ..models import Execution, RunResult
from .attempt import Dispatch, Sleep, Verdict, attempts
from .commands import (
    Claim,
    Command,
    CostPendingType,
    Follow,
    Hold,
    JournalBackend,
    Observe,
    Record,
    Settle,
    Unclaim,
)
from .journal import (
    JournalClaim,
    JournalEntry,
    describe_error,
    interrupted_error,
    still_in_flight,
    unknown_outcome,
)
from .plan import Call, Journaling, Spending

__all__ = [
    "Call",
    "Journaling",
    "Spending",
    "call_flow",
]

T = TypeVar("T")
logger = logging.getLogger("knouds")
_FIRST_RECHECK = 0.05
_MAX_RECHECK = 1.0
# Seconds a claim's hand-back may wait on the journal when the call has a deadline.
_UNCLAIM_WAIT = 1.0


def _failure(error: BaseException, judged: Verdict, secret: str | None) -> dict[str, Any]:
    """What the journal keeps of the error that ended a run."""
    if isinstance(error, KnoudsError):
        return describe_error(error, secret)
    return interrupted_error(error, sent=judged != "rejected")


# -- the flow ----------------------------------------------------------------------------------


def _landing(
    command: Record | Unclaim | Settle, failure: str = ""
) -> Generator[Command, object, tuple[object, BaseException | None]]:
    """Yield a command that must land: its result, and what interrupted it (returned instead of
    raised, so the rest of the cleanup still runs). A journal failure is logged as ``failure``
    (the result is then ``None``)."""
    try:
        return (yield command), None
    except GeneratorExit:
        raise
    except JournalError as error:
        logger.warning("%s: %s", failure, error)
        return None, None
    except BaseException as interrupt:
        return None, interrupt


def _record(
    journal: JournalBackend, entry: JournalEntry, **changes: Any
) -> Generator[Command, object, BaseException | None]:
    """Record how a run went. A journal failure is logged, never raised: the run already
    happened and its result must reach the caller (the entry keeps its earlier state, so a later
    run of the key is not sent blindly)."""
    failure = f"Could not record the {changes.get('state')} state of journaled run {entry.key!r}"
    stored, interrupt = yield from _landing(Record(journal, entry, changes), failure)
    if stored is False:
        logger.warning(
            "%s: its record was taken over meanwhile (forgotten, or sent again with "
            "resend_unknown), so this end is not kept",
            failure,
        )
    return interrupt


def _wait_for_cost(
    call: Call[Any], spending: Spending, waiting: CostPendingType
) -> Generator[Command, object, object]:
    """Hold the run's expected cost once another run of the same model or workflow, of a cost
    not known yet, has ended (its cost is then known and can be held): wait for it, asking
    again at growing intervals, up to the call's deadline."""
    ctx = call.ctx
    pause = _FIRST_RECHECK
    while True:
        if ctx.deadline_at is not None:
            left = ctx.deadline_at - ctx.clock()
            if left <= 0:
                label = "max_credits of this batch" if waiting.scope == "batch" else "credit budget"
                raise BudgetExceededError(
                    f"Not starting {spending.ref.label}: its cost is not known yet, another "
                    "run of it is in flight to learn it, and the call's deadline ran out "
                    f"waiting for it (the {label} of {waiting.limit:g} had {waiting.spent:g} "
                    "counted). Nothing was sent.",
                    limit=waiting.limit,
                    spent=waiting.spent,
                    held=waiting.held,
                    requested=0.0,
                    scope=waiting.scope,
                )
            pause = min(pause, left)
        yield Sleep(pause)
        pause = min(pause * 2, _MAX_RECHECK)
        ticket = yield Hold(spending.ledger, spending.ref, spending.batch, spending.submission)
        if not isinstance(ticket, CostPendingType):
            return ticket
        waiting = ticket


def _charged(call: Call[T]) -> Generator[Command, object, T]:
    """Hold, make the attempts, settle: the part of a run the budget and the usage see.

    What interrupts the settling of a run that succeeded is raised after it, unless the run is
    journaled: then it is kept on the call's `Dispatch` for `_journaled`, which records the
    result first (a paid result is never dropped) and raises it then.
    """
    spending = call.spending
    ctx = call.ctx
    if spending is None:
        value: T = yield from attempts(ctx, call.parse)
        if call.observe is not None and isinstance(value, Execution) and value.done:
            yield Observe(call.observe, value)
        if ctx.dispatch.interrupted is not None:
            raise ctx.dispatch.interrupted
        return value
    dispatch = ctx.dispatch
    if spending.limited:
        ticket = yield Hold(spending.ledger, spending.ref, spending.batch, spending.submission)
        if isinstance(ticket, CostPendingType):
            ticket = yield from _wait_for_cost(call, spending, ticket)
    else:  # nothing to hold: only the usage counts the run (at `Settle`)
        ticket = spending.ledger.unheld(spending.ref, spending.batch)
    try:
        value = yield from attempts(ctx, call.parse)
    except GeneratorExit:
        raise
    except BaseException as error:
        judged = dispatch.verdict(error)
        if isinstance(error, KnoudsError):
            error._verdict = judged
        _, interrupt = yield from _landing(Settle(spending.ledger, ticket, verdict=judged))
        if interrupt is not None:
            raise interrupt from error
        raise
    try:
        yield Settle(spending.ledger, ticket, value)
    except GeneratorExit:
        raise
    except BaseException as interrupt:
        dispatch.interrupted = dispatch.interrupted or interrupt
    if dispatch.interrupted is not None and call.journaling is None:
        raise dispatch.interrupted  # settled; a journaled run records its result first
    return value


def call_flow(call: Call[T]) -> Generator[Command, object, T]:
    """One public call, from the journal's claim to its record, as the generator the drivers
    run. Returns the parsed answer (for a journaled run: also one answered from the journal)."""
    journaling = call.journaling
    if journaling is None:
        return _charged(call)
    return _journaled(call, journaling, call.ctx.dispatch)


def _journaled(
    call: Call[Any], run: Journaling, dispatch: Dispatch
) -> Generator[Command, object, Any]:
    """A run recorded in the journal: sent only if its key holds no run yet."""
    clock = call.ctx.clock
    journal = run.journal
    give_up_at = None if run.deadline is None else clock() + run.deadline
    replace_token: str | None = None
    delay = _FIRST_RECHECK
    while True:
        token = uuid.uuid4().hex
        journal.mark_in_flight(token)  # before the claim exists: no reader takes it for dead
        try:
            left = None if give_up_at is None else max(give_up_at - clock(), 0.0)
            answer = yield Claim(
                journal, run.key, run.target, run.inputs_hash, token, replace_token, left
            )
        except GeneratorExit:
            journal.mark_done(token)
            raise
        except BaseException as error:
            # The claim may have been written before the failure (a sync write cut by Ctrl-C,
            # a store client that timed out after applying it): hand it back. The hand-back is
            # a compare-and-set on this claim's fresh token: harmless when nothing was written.
            if not isinstance(error, IdempotencyConflictError):  # (that one is someone else's)
                if isinstance(error, KnoudsError):
                    message = describe_error(error, run.secret)
                else:
                    message = interrupted_error(error, sent=False)
                # Within what is left of the deadline, but long enough for a store that answers.
                wait = None if give_up_at is None else max(give_up_at - clock(), _UNCLAIM_WAIT)
                unclaim = Unclaim(journal, run.key, token, message, wait)
                not_handed = f"Could not hand back the claim of journaled run {run.key!r}"
                _, interrupt = yield from _landing(unclaim, not_handed)
                journal.mark_done(token)
                if interrupt is not None:
                    raise interrupt from error
            else:
                journal.mark_done(token)
            raise
        claim = answer
        assert isinstance(claim, JournalClaim)
        # The entry may hold this very token: a store client that retried the claim after a
        # timeout applied it twice, and the second answer shows our own claim.
        if claim.claimed or claim.entry.token == token:
            break
        journal.mark_done(token)
        entry = claim.entry
        if entry.state == "completed":
            if not run.want_execution:
                return entry.run_result()
            if entry.execution_id is None:
                raise IdempotencyConflictError(
                    f"The key {run.key!r} holds a synchronous run, which has no execution to "
                    "return: use run() for it.",
                    key=run.key,
                )
            return (yield Follow(run.get, (entry.execution_id,)))
        if entry.state == "failed":
            raise entry.stored_error()
        if entry.state == "submitted" and entry.execution_id is not None:
            if run.want_execution:
                return (yield Follow(run.get, (entry.execution_id,)))
            return (yield from _wait_phase(run, entry, give_up_at, clock))
        if entry.state == "started" and journal.is_alive(entry, clock()):
            pause = delay  # in flight elsewhere: wait for it to end, within the deadline
            if give_up_at is not None:
                left = give_up_at - clock()
                if left <= 0:
                    raise still_in_flight(run.key, entry, run.deadline)
                pause = min(delay, left)
            yield Sleep(pause, "in_flight")
            delay = min(delay * 2, _MAX_RECHECK)
            continue
        if not run.resend_unknown:
            raise unknown_outcome(entry)
        replace_token = entry.token

    entry = claim.entry
    try:
        try:
            value = yield from _charged(call)
            settling = dispatch.interrupted
        except GeneratorExit:
            raise
        except BaseException as error:
            judged = dispatch.verdict(error)
            if isinstance(error, KnoudsError) and error._verdict is None:
                error._verdict = judged
            failure = _failure(error, judged, run.secret)
            interrupt = yield from _record(journal, entry, state=judged, error=failure)
            if interrupt is not None:
                raise interrupt from error
            raise
        if isinstance(value, Execution):
            interrupt = yield from _record(journal, entry, state="submitted", execution_id=value.id)
            interrupt = interrupt or settling
            if interrupt is not None:
                raise interrupt
            if run.want_execution or not run.then_wait:
                return value
            entry = replace(entry, state="submitted", execution_id=value.id)
            return (yield from _wait_phase(run, entry, give_up_at, clock))
        assert isinstance(value, RunResult)
        interrupt = yield from _record(
            journal, entry, state="completed", result=value.model_dump(mode="json", by_alias=True)
        )
        interrupt = interrupt or settling
        if interrupt is not None:
            raise interrupt
        return value
    finally:
        journal.mark_done(token)


def _wait_phase(
    run: Journaling,
    entry: JournalEntry,
    give_up_at: float | None,
    clock: Callable[[], float],
) -> Generator[Command, object, RunResult]:
    """Wait on a submitted execution (until ``give_up_at``, the call's deadline, if set) and
    record how it ended. Other errors (a wait that timed out, a lost connection) leave the entry
    ``submitted``: a later run waits on it again."""
    assert entry.execution_id is not None
    args: tuple[Any, ...] = (entry.execution_id,)
    wait = run.wait
    if give_up_at is not None:
        left = max(give_up_at - clock(), 0.001)

        def wait(execution_id: str, _wait: Callable[..., Any] = run.wait) -> Any:
            return _wait(execution_id, timeout=left)

    try:
        result = yield Follow(wait, args)
    except (ExecutionFailedError, ExecutionCancelledError) as error:
        interrupt = yield from _record(
            run.journal, entry, state="failed", error=describe_error(error, run.secret)
        )
        if interrupt is not None:
            raise interrupt from error
        raise
    assert isinstance(result, RunResult)
    interrupt = yield from _record(
        run.journal,
        entry,
        state="completed",
        result=result.model_dump(mode="json", by_alias=True),
    )
    if interrupt is not None:
        raise interrupt
    return result
