"""Spend control around each run: budget holds before sending, usage and costs after.

Every model or workflow run (and submission) passes through the run pipeline's `Hold` and
`Settle` (``knouds/_core/pipeline.py``): before the request, the run holds its expected cost
under the client's budget and the batch's ``max_credits`` (or is refused with
`BudgetExceededError`, nothing sent); after it, the hold becomes what was charged and the cost is
added to the usage report.

What a run is expected to cost: the last cost charged for the same model or workflow, else the
workflow's published estimate (``estimatedCreditCost``), else the budget's ``prices``, else
``0`` (unknown: the run may start while the budget is not spent, which is where the documented
overshoot comes from). A submission of unknown cost made outside a batch holds a marker under
the client's budget until its end is seen (or ``hold_ttl`` passes): while it does, a further
one of the same model or workflow is refused, so a loop that only submits cannot run unchecked.

How a run that failed is counted follows the pipeline's one verdict on it: ``rejected`` (nothing
ran: an answer refusing it, or nothing sent) counts nothing; otherwise (a read timeout, a 5xx,
an interrupt after the request started to leave) its expected cost counts against the budget,
and as unconfirmed in the usage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._core.attempt import Verdict
from .._core.checks import check_credits
from .._core.commands import CostPendingType
from .._core.spend import RunRef, charged
from .._exceptions import BudgetExceededError
from ..models import Execution, RunResult, WorkflowSummary
from .budget import Budget, BudgetStoreError, CostPending, Hold
from .usage import BatchResults, UsageRecorder

if TYPE_CHECKING:
    from .._base.batch import BatchOutcome

__all__ = ["BatchSpend", "SpendTracker", "plan_batch"]

_MAX_PENDING = 10_000  # submissions remembered until their end is seen
logger = logging.getLogger("knouds")


class BatchSpend:
    """One batch's ``max_credits``, its usage, its estimate and its cost projection."""

    def __init__(self, runs: int, max_credits: float | None, estimate_each: float | None) -> None:
        self.runs = runs
        self.budget = None if max_credits is None else Budget(max_credits, name="batch")
        self.usage = UsageRecorder()
        self.estimate = None if estimate_each is None else estimate_each * runs

    def status(self, done: int) -> str:
        """The progress bar's note: credits so far, and the projected or estimated total."""
        usage = self.usage.snapshot()
        parts = [f"{usage.credits:g} credits"]
        if usage.runs:
            average = usage.credits / usage.runs
            parts.append(f"~{usage.credits + average * max(self.runs - done, 0):g} projected")
        elif self.estimate is not None:
            parts.append(f"~{self.estimate:g} estimated")
        return ", ".join(parts)

    def results(self, outcomes: list[BatchOutcome]) -> BatchResults:
        """The batch's outcomes with its usage and estimate."""
        return BatchResults(outcomes, usage=self.usage.snapshot(), estimate=self.estimate)


class _Ticket:
    """One call's holds (a plain class: it is made on every run, so it stays cheap)."""

    __slots__ = ("amount", "batch", "holds", "pending", "ref")

    def __init__(
        self,
        ref: RunRef,
        holds: tuple[Hold, ...],
        amount: float,
        batch: BatchSpend | None,
        pending: bool = False,
    ) -> None:
        self.ref = ref
        self.holds = holds
        self.amount = amount
        self.batch = batch
        self.pending = pending  # a submission of unknown cost: its hold stays until its end


class SpendTracker:
    """The budget, usage and learned costs of one client and its ``with_options`` copies."""

    def __init__(self, budget: Budget | None) -> None:
        self.budget = budget
        self.usage = UsageRecorder()
        self._lock = threading.Lock()
        self._observed: dict[RunRef, float] = {}
        self._published: dict[RunRef, float] = {}
        self._pending: dict[str, _Ticket] = {}

    def blocking(self) -> bool:
        """Whether counting does network I/O (a Redis budget; a batch's limit never does)."""
        return self.budget is not None and self.budget.blocking

    def known(self, ref: RunRef) -> float | None:
        """What a run of ``ref`` is expected to cost, or ``None`` when unknown."""
        with self._lock:
            known = self._observed.get(ref, self._published.get(ref))
        if known is None and self.budget is not None:
            known = self.budget.prices.get(ref.name)
        return known

    def publish(self, ref: RunRef, estimate: float) -> None:
        """Remember a published estimate (a cost actually charged later takes precedence)."""
        with self._lock:
            self._published[ref] = estimate

    def publish_listing(self, summaries: Iterable[WorkflowSummary]) -> None:
        """Remember the estimates a workflow listing published."""
        for summary in summaries:
            if summary.estimated_credit_cost is not None:
                self.publish(RunRef("workflow", summary.slug), float(summary.estimated_credit_cost))

    def limited(self, batch: BatchSpend | None) -> bool:
        """Whether a run holds its cost: under the client's budget or a batch's max_credits."""
        return self.budget is not None or (batch is not None and batch.budget is not None)

    def unheld(self, ref: RunRef, batch: BatchSpend | None) -> _Ticket:
        """The ticket of a run with nothing to hold (no budget, no limit): only counted."""
        return _Ticket(ref, (), 0.0, batch)

    def begin(
        self, ref: RunRef, batch: BatchSpend | None, submission: bool = False
    ) -> _Ticket | CostPendingType:
        """Hold the run's expected cost under every budget, or raise `BudgetExceededError`;
        a `CostPendingType` while another run of the same unknown cost is in flight. (Each
        budget reads its own clock: its periods and its holds' lifetimes are on it.)"""
        # (A run with nothing to hold never gets here: the pipeline takes `unheld` for it.)
        known = self.known(ref)
        amount = 0.0 if known is None else known
        if submission and known is None and batch is None and self.budget is not None:
            # Nobody may ever poll it (webhooks): one pending at a time until its cost is known.
            pending = f"{ref.kind}:{ref.name}"
            hold = self.budget._hold(0.0, scope="client", what=ref.label, pending=pending)
            return _Ticket(ref, (hold,), 0.0, batch, pending=True)
        # A run of unknown cost goes first alone: it holds a marker the others of the same
        # model or workflow wait for (`CostPendingType`), so they start only once its cost is known
        # and can be held. (A charge of 0, a trial grant, is no price: it teaches nothing.)
        gate = f"first-run:{ref.kind}:{ref.name}" if known is None else None
        holds: list[Hold] = []
        limits = [(self.budget, "client"), (batch.budget if batch else None, "batch")]
        try:
            for budget, scope in limits:
                if budget is not None:
                    hold = budget._hold(
                        amount, scope=scope, what=ref.label, pending=gate, wait=True
                    )
                    holds.append(hold)
        except BaseException as refused:
            # Refused, waiting for a cost, or interrupted between two holds: none is kept.
            for hold in holds:
                hold.budget._settle(hold, 0.0)
            if isinstance(refused, CostPending):
                return refused.waiting
            raise
        # A submission holding the marker keeps it until its end is seen (`observe`).
        return _Ticket(ref, tuple(holds), amount, batch, pending=gate is not None and submission)

    def _record(self, ticket: _Ticket, cost: float | None, *, confirmed: bool = True) -> None:
        self.usage.record(ticket.ref.kind, ticket.ref.name, cost, confirmed=confirmed)
        if ticket.batch is not None:
            ticket.batch.usage.record(ticket.ref.kind, ticket.ref.name, cost, confirmed=confirmed)

    def finish(self, ticket: _Ticket, value: object) -> None:
        """Replace the holds with what a successful call charged, and count it."""
        if isinstance(value, Execution):
            # Charged at submission, but the cost is only reported once it ends: count the
            # expected cost now and correct it when the end is seen (`observe`). A submission
            # of unknown cost keeps its hold until then (or until it expires).
            if not ticket.pending:
                for hold in ticket.holds:
                    hold.budget._settle(hold, ticket.amount)
            with self._lock:
                self._pending[value.id] = ticket
                if len(self._pending) > _MAX_PENDING:  # submitted, never polled (webhooks)
                    del self._pending[next(iter(self._pending))]
            for hold in ticket.holds:  # another client on the same budget may see its end
                hold.budget._submitted(value.id, self)
            return
        # A run's answer (the only other value a run settles with) says what it charged.
        charge = charged(value.cost) if isinstance(value, RunResult) else None
        # The usage and the learned price first (in memory, they cannot fail): an interrupt
        # while a budget store is written must not leave the run uncounted.
        if charge is None:
            # No cost, or not a credit amount: count what the run was expected to cost, as
            # unconfirmed (never as a free run).
            self._record(ticket, None, confirmed=False)
            for hold in ticket.holds:
                hold.budget._settle(hold, ticket.amount)
            return
        self._record(ticket, charge)
        if charge > 0:  # a grant-paid run says nothing about the price
            self._observed[ticket.ref] = charge  # one dict store: atomic
        for hold in ticket.holds:
            hold.budget._settle(hold, charge)

    def fail(self, ticket: _Ticket, verdict: Verdict) -> None:
        """Settle a run that ended in an error or an interrupt, by the pipeline's verdict:
        ``rejected`` (nothing ran) releases its holds; otherwise it may have run, so its expected
        cost is counted, as unconfirmed in the usage."""
        if verdict == "rejected":
            for hold in ticket.holds:
                hold.budget._settle(hold, 0.0)
            return
        self._record(ticket, None, confirmed=False)
        if not ticket.pending:
            # A submission of unknown cost that may have started keeps its hold until it
            # expires: its end can never be seen, so nothing else would ever count it.
            for hold in ticket.holds:
                hold.budget._settle(hold, ticket.amount)

    def observe(self, execution: Execution) -> None:
        """Count the cost of a submitted execution once it is seen ended."""
        if not execution.done:
            return
        with self._lock:
            ticket = self._pending.pop(execution.id, None)
        if ticket is None:
            # Submitted through another client sharing this client's budget: that client holds
            # the submission's ticket, and counts it.
            owner = self.budget._submitter(execution.id) if self.budget is not None else None
            if owner is not None and owner is not self:
                owner.observe(execution)
            return
        for hold in ticket.holds:
            hold.budget._submitter(execution.id)  # seen: forget who submitted it
        cost_unknown = execution.cost is None and execution.status == "completed"
        if cost_unknown or (execution.cost is not None and charged(execution.cost) is None):
            # Completed without a cost, or not a credit amount: the expected cost stays
            # counted, as unconfirmed (never refunded as a free run).
            if ticket.pending:
                for hold in ticket.holds:
                    hold.budget._settle(hold, 0.0)
            self._record(ticket, None, confirmed=False)
            return
        cost = 0.0 if execution.cost is None else float(execution.cost)
        if cost != ticket.amount or ticket.pending:
            for hold in ticket.holds:
                hold.budget._settle(hold, cost - ticket.amount)
        if execution.status == "completed" or cost > 0:
            # A failed or cancelled run counts only when it was charged: it is no grant-paid run.
            self._record(ticket, execution.cost)
        if cost > 0:
            with self._lock:
                self._observed[ticket.ref] = cost


def plan_batch(
    spend: SpendTracker,
    ref: RunRef,
    runs: int,
    max_credits: float | None,
    estimate_each: float | None,
) -> BatchSpend:
    """A batch's spend control, after refusing it when its estimate does not fit.

    Raises:
        BudgetExceededError: the published estimate of the whole batch exceeds ``max_credits``;
            nothing is sent. (An estimate above what is left of the client's budget is only
            logged as a warning: the budget stops the batch part way.)
    """
    limit = None if max_credits is None else check_credits(max_credits, "max_credits")
    if estimate_each is not None:
        spend.publish(ref, float(estimate_each))
    batch = BatchSpend(runs, limit, estimate_each)
    total = batch.estimate
    if total is None:
        return batch
    what = f"{runs} runs of {ref.kind} {ref.name!r}"
    logger.info("Estimated cost of %s: %g credits", what, total)
    if limit is not None and total > limit + 1e-9:
        raise BudgetExceededError(
            f"Not starting the batch: {what} are estimated at {total:g} credits, more than "
            f"max_credits={limit:g}. Nothing was sent.",
            limit=limit,
            spent=0.0,
            requested=total,
            scope="batch",
        )
    budget = spend.budget
    if budget is not None:
        try:
            left = budget.remaining
        except BudgetStoreError:  # the first run will be refused with the reason
            return batch
        if total > left + 1e-9:  # the budget will stop it part way: say so before it starts
            logger.warning(
                "%s are estimated at %g credits, more than the %g left of the credit budget: "
                "the budget will stop the batch part way",
                what,
                total,
                left,
            )
    return batch
