"""``Budget``: a number of credits the SDK will not spend past, optionally per period.

A run may start only while its budget is not spent. Each run in flight *holds* the credits it is
expected to cost (the workflow's published estimate, or the last cost charged for the same model
or workflow; ``0`` while unknown), so concurrent runs cannot together start past the budget when
costs are known. When the run ends the hold is replaced by what was actually charged.

The counting lives behind a small store interface: `MemoryBudgetStore` (one process; the
default) and a Redis store (``store="redis://..."``) that shares one budget between processes
with atomic scripts. A hold lives until its run ends; in Redis, where other processes see it,
it also expires (``hold_ttl``), so a process that dies mid-run cannot pin the budget forever.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .._core.checks import bad_setting, check_callable, check_credits, check_seconds
from .._core.commands import CostPendingType
from .._exceptions import BudgetExceededError, BudgetStoreError
from .._public import publish
from .budget_store import BudgetStore, MemoryBudgetStore, Totals, _allows, refusal

if TYPE_CHECKING:
    from .._types import Clock

__all__ = [
    "Budget",
    "BudgetStore",
    "BudgetStoreError",
    "CostPending",
    "Hold",
    "MemoryBudgetStore",
    "Totals",
]


class CostPending(Exception):
    """Another run of the same model or workflow, of a cost not known yet, holds the marker
    this one needs: wait for its end (its cost is known then), and ask again. ``waiting``: the
    limit it waits under."""

    def __init__(self, pending: str, waiting: CostPendingType) -> None:
        super().__init__(pending)
        self.waiting = waiting


logger = logging.getLogger("knouds")
_MAX_SUBMISSIONS = 10_000  # submissions remembered until their end is seen


@dataclass(frozen=True)
class _Unsent:
    """A settlement the store could not take yet."""

    key: str
    hold_id: str
    charge: float
    settle_id: str


@dataclass(frozen=True)
class Hold:
    """Credits held for one run in flight under one budget."""

    budget: Budget
    key: str
    hold_id: str
    amount: float


def _seconds(period: float | timedelta | None) -> float | None:
    if period is None:
        return None
    if isinstance(period, timedelta) and period > timedelta(0):
        return period.total_seconds()
    if isinstance(period, timedelta):
        raise bad_setting("period", "a positive duration", period)
    return check_seconds(period, "period")


def _check_store(store: object) -> None:
    """A shared budget's store: a Redis URL or a redis-py client (a URL is shown without its
    credentials)."""
    from .redis import is_redis_client, is_redis_url

    if is_redis_url(store) or is_redis_client(store):
        return
    if isinstance(store, str):
        from .._core.settings import _describe_url

        got = _describe_url(store)
        raise bad_setting("store", "a redis:// URL or a redis-py client", store, got=got)
    raise bad_setting("store", "a redis:// URL or a redis-py client", store)


class Budget:
    """A credit budget: runs past it are refused before anything is sent.

    Pass it (or just a number of credits) as ``knouds.Client(budget=...)``. The SDK counts the
    ``cost`` of every result (``0`` when a trial grant paid) and refuses to start a run once the
    budget is spent, raising `BudgetExceededError`. Runs already in flight finish and are
    counted, so the budget can be overshot by at most the runs in flight times their cost; runs
    whose cost is known in advance hold it while in flight and are not started when it would not
    fit, so with known costs the budget is not overshot at all.

    What a run is expected to cost: the last cost charged for the same model or workflow, else
    the workflow's published estimate, else its price in ``prices``; otherwise it is unknown.
    A submission (``submit``) is charged when it starts but its cost is only reported once it
    ends, so it counts its expected cost from the start. A submission of **unknown** cost counts
    once its end is seen (`executions.get` or `executions.wait`); while one is pending, a further
    submission of the same model or workflow whose cost is still unknown is refused with
    `BudgetExceededError`: wait for the first one to end, or state the price in ``prices``. So a
    loop that only submits (and never polls, e.g. with webhooks) stops at the budget. Runs of a
    batch (``run_many(..., submit=True)``) wait for their ends and are not limited this way.

    One `Budget` object can be given to several clients: they then share it. With a Redis
    ``store``, every process using the same ``name`` on the same Redis shares it. While that
    Redis cannot be reached, runs are refused (a budget that cannot be checked does not turn into
    no budget). A charge that cannot be written because Redis went away (or stalled) as the run
    ended is logged as a warning, kept by this object (counted in `spent` and `remaining`) and
    written, once, before its next operation.

    Args:
        credits: the most credits to spend (per ``period`` when one is given).
        period: a `datetime.timedelta` or seconds; the budget starts afresh at every
            multiple of the period since the Unix epoch (``timedelta(days=1)`` resets at
            midnight UTC). ``None`` (default): one budget for as long as the object lives (or, in
            Redis, until `reset`).
        store: ``None`` to count in this process, or a ``redis://`` URL or a ``redis.Redis``
            client to share the budget between processes (``pip install knouds[redis]``). The
            server should keep its keys (``maxmemory-policy noeviction``, AOF or RDB
            persistence); a server that may not is logged as a warning when the budget is made.
        name: the budget's name in the store; processes sharing a budget use the same name.
        hold_ttl: seconds after which, in a Redis store, the credits held by a run that never
            reported back (its process died) are released; set it above your longest run. A
            hold in this process's memory lives until its run ends. A pending submission of
            unknown cost stops blocking further submissions after this long too.
        prices: credits per run of a model (by its name) or workflow (by its slug), used as
            the expected cost while no cost has been charged and no estimate is published.
        clock: returns epoch seconds, used for periods (inject a fake one in tests). A client
            given a plain number of credits builds its budget with its own clock.

    Raises:
        ConfigurationError: a setting that cannot work (negative, NaN or infinite credits, a
            period or ``hold_ttl`` that is not a positive duration, a negative price, an empty
            name...), before anything is counted.

    Example:
        >>> budget = knouds.Budget(500, period=timedelta(days=1))
        >>> budget.remaining
        500.0
    """

    credits: float
    period: float | None
    name: str
    hold_ttl: float
    prices: dict[str, float]

    def __init__(
        self,
        credits: float,
        *,
        period: float | timedelta | None = None,
        store: object = None,
        name: str = "default",
        hold_ttl: float = 3600.0,
        clock: Clock | None = None,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        self.credits = check_credits(credits, "credits")
        self.period = _seconds(period)
        if not isinstance(name, str) or not name:
            raise bad_setting("name", "a non-empty string", name)
        self.name = name
        self.hold_ttl = check_seconds(hold_ttl, "hold_ttl")
        self.prices = {}
        if prices is not None and not isinstance(prices, Mapping):
            raise bad_setting(
                "prices", "a mapping of model names or workflow slugs to credits", prices
            )
        for model, price in (prices or {}).items():
            if not isinstance(model, str) or not model:
                raise bad_setting("prices", "a mapping with names as keys", model)
            self.prices[model] = check_credits(price, f"prices[{model!r}]")
        check_callable(clock, "clock")
        self._clock = clock or time.time
        # Hold ids: unique across processes sharing a store, cheap to make for every run.
        self._hold_prefix = uuid.uuid4().hex[:16] + "-"
        self._hold_ids = itertools.count()
        # Submissions counted under this budget, by execution id: the client ledger holding each.
        self._submissions: dict[str, Any] = {}
        self._submissions_lock = threading.Lock()
        self._settle_ids = itertools.count()
        # Settlements the store could not take yet (it was away), oldest first: counted here
        # meanwhile and written before the next operation. A lock of their own: the store's
        # calls are not made under it, except to write them, in order.
        self._unsent: list[_Unsent] = []
        self._unsent_lock = threading.Lock()
        self._store: BudgetStore
        if store is None:
            self._store = MemoryBudgetStore()
        else:
            _check_store(store)
            from .redis_budget import RedisBudgetStore

            self._store = RedisBudgetStore(store)

    @property
    def blocking(self) -> bool:
        """Whether counting does network I/O (the async client then uses a worker thread)."""
        return self._store.blocking

    def _key(self, now: float) -> str:
        if self.period is None:
            return self.name
        return f"{self.name}:{int(now // self.period)}"

    def _ttl(self) -> float:
        """How long a store keeps a key: two periods, and never less than a hold lasts."""
        return 0.0 if self.period is None else max(2 * self.period, self.hold_ttl)

    @property
    def spent(self) -> float:
        """Credits counted in the current period (charged, or possibly charged), including
        charges this object could not write to a shared store yet.

        Raises:
            BudgetStoreError: a shared budget's store cannot be reached.
        """
        return self._totals(self._clock()).spent

    @property
    def held(self) -> float:
        """Credits expected from runs in flight right now.

        Raises:
            BudgetStoreError: a shared budget's store cannot be reached.
        """
        return self._totals(self._clock()).held

    @property
    def remaining(self) -> float:
        """Credits left in the current period (never negative).

        Raises:
            BudgetStoreError: a shared budget's store cannot be reached.
        """
        totals = self._totals(self._clock())
        return max(self.credits - totals.spent - totals.held, 0.0)

    def reset(self) -> None:
        """Start the current period afresh: forget what it counted."""
        self._store.clear(self._key(self._clock()))

    def _hold(
        self,
        amount: float,
        *,
        scope: str,
        what: str,
        pending: str | None = None,
        wait: bool = False,
    ) -> Hold:
        """Hold ``amount`` credits for one run, or raise `BudgetExceededError`.

        ``pending`` names a run of unknown cost: it holds a marker shared by every process,
        refused while another run holding the same marker is in flight (a submission: with
        `BudgetExceededError`; with ``wait``: with `CostPending`, and the caller waits). Its
        period and its lifetime are read on the budget's own clock, whatever the client's.
        """
        now = self._clock()
        key = self._key(now)
        if pending is not None:
            hold_id = f"pending-unknown-cost:{pending}"
        else:
            # The process id too: processes forked from one Budget share its prefix and counter.
            hold_id = f"{self._hold_prefix}{os.getpid()}-{next(self._hold_ids)}"
        asked = False
        try:
            self._send_unsent()
            asked = True
            granted, totals = self._store.hold(
                key,
                hold_id,
                amount,
                self.credits,
                now,
                self.hold_ttl,
                self._ttl(),
                exclusive=pending is not None,
            )
        except BaseException as interrupt:
            if not isinstance(interrupt, BudgetStoreError):
                # Interrupted (Ctrl-C, a task queue's time limit) while the hold was being
                # taken: it may have landed, and nobody would ever settle it. Hand it back.
                if asked and pending is None:
                    with contextlib.suppress(Exception):
                        self._store.settle(key, hold_id, 0.0, self._ttl())
                raise
            error = interrupt
            if asked and pending is None:
                # The hold may have landed although its answer did not: give it back later.
                self._keep_unsent(_Unsent(key, hold_id, 0.0, self._next_settle_id(hold_id)))
            # Fail closed: a budget that cannot be checked must not become no budget at all.
            raise BudgetExceededError(
                f"Not starting {what}: the credit budget {self.name!r} cannot be checked "
                f"({error}); runs are refused until it can. Nothing was sent.",
                limit=self.credits,
                spent=0.0,
                requested=amount,
                scope=scope,
            ) from error
        if not granted and pending is not None and _allows(totals, amount, self.credits):
            if wait:
                raise CostPending(
                    pending, CostPendingType(self.credits, totals.spent, totals.held, scope)
                )
            raise BudgetExceededError(
                f"Not starting {what}: its cost is not known yet and a submission of it is "
                f"still pending under the credit budget {self.name!r}, which counts a "
                "submission of unknown cost only once its end is seen. Wait for that one to "
                "end (client.executions.wait or client.executions.get), or state its price: "
                f"Budget(..., prices={{{pending.split(':', 1)[1]!r}: credits}}). Nothing was sent.",
                limit=self.credits,
                spent=totals.spent,
                held=totals.held,
                requested=amount,
                scope=scope,
            )
        if not granted:
            raise refusal(self.credits, totals, amount, scope=scope, what=what)
        return Hold(self, key, hold_id, amount)

    def _next_settle_id(self, hold_id: str) -> str:
        # Unique across processes like hold ids: a pending marker's hold id is shared by all.
        return f"{self._hold_prefix}{os.getpid()}-{next(self._settle_ids)}:{hold_id}"

    def _submitted(self, execution_id: str, ledger: object) -> None:
        """Note which client's ledger holds the ticket of a submission counted under this
        budget, so another client sharing the budget that sees its end can have it counted."""
        with self._submissions_lock:
            self._submissions[execution_id] = ledger
            if len(self._submissions) > _MAX_SUBMISSIONS:  # never polled (webhooks)
                del self._submissions[next(iter(self._submissions))]

    def _submitter(self, execution_id: str) -> Any:
        """The ledger that holds a submission's ticket (and forget it), or ``None``."""
        with self._submissions_lock:
            return self._submissions.pop(execution_id, None)

    def _settle(self, hold: Hold, charge: float) -> None:
        unsent = _Unsent(hold.key, hold.hold_id, charge, self._next_settle_id(hold.hold_id))
        try:
            self._send_unsent()
            self._store.settle(hold.key, hold.hold_id, charge, self._ttl(), unsent.settle_id)
        except BudgetStoreError as error:
            # The run is over and paid for: losing its result over bookkeeping would be worse.
            # The charge is kept here, counted by this object, and written (once) when the
            # store answers again.
            self._keep_unsent(unsent)
            logger.warning(
                "Could not count %g credits in the credit budget %r yet (%s): kept in this "
                "process and written when the store answers again",
                charge,
                self.name,
                error,
            )

    def _keep_unsent(self, unsent: _Unsent) -> None:
        with self._unsent_lock:
            self._unsent.append(unsent)

    def _send_unsent(self) -> None:
        """Write the settlements the store could not take before, oldest first.

        Raises:
            BudgetStoreError: the store is still away (what is left stays kept).
        """
        if not self._unsent:
            return
        with self._unsent_lock:
            while self._unsent:
                first = self._unsent[0]
                self._store.settle(
                    first.key, first.hold_id, first.charge, self._ttl(), first.settle_id
                )
                self._unsent.pop(0)

    def _totals(self, now: float) -> Totals:
        key = self._key(now)
        # Still unsent: counted below; the store is asked anyway, and raises if it is away.
        with contextlib.suppress(BudgetStoreError):
            self._send_unsent()
        totals = self._store.totals(key, now)
        with self._unsent_lock:
            kept = sum(u.charge for u in self._unsent if u.key == key)
        return Totals(totals.spent + kept, totals.held) if kept else totals

    def __repr__(self) -> str:
        period = "" if self.period is None else f", period={self.period:g}s"
        return f"Budget({self.credits:g}{period}, name={self.name!r})"


publish(globals())
