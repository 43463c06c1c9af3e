"""Where a `Budget` counts: the `BudgetStore` interface and the in-process `MemoryBudgetStore`
(the Redis one is in ``redis_budget``). Stores count whole micro-credits and are atomic per key.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from typing import Protocol

from .._exceptions import BudgetExceededError

__all__ = ["BudgetStore", "MemoryBudgetStore", "Totals", "refusal"]

_EPSILON = 1e-9  # credits are decimal amounts; the stores count whole micro-credits
_MICRO = 1_000_000


@dataclass(frozen=True)
class Totals:
    """What a budget key has counted: credits charged, and credits held by runs in flight."""

    spent: float
    held: float


class BudgetStore(Protocol):
    """Where a budget counts credits. Every method is atomic for one key.

    ``blocking`` tells the async client to call the store from a worker thread (network I/O).
    """

    blocking: bool

    def hold(
        self,
        key: str,
        hold_id: str,
        amount: float,
        limit: float,
        now: float,
        ttl: float,
        keep: float,
        exclusive: bool = False,
    ) -> tuple[bool, Totals]:
        """Hold ``amount`` for a run, for at most ``ttl`` seconds, if the budget allows it.

        Returns ``(granted, totals before)``. ``keep`` is how long the store keeps the key
        (``0``: forever). With ``exclusive``, the hold is refused while a live hold with the
        same ``hold_id`` exists.
        """

    def settle(
        self, key: str, hold_id: str, charge: float, keep: float, settle_id: str = ""
    ) -> None:
        """Drop a hold and add ``charge`` to the credits spent.

        ``settle_id`` names this settlement: a retry with the same id (after a failure that
        left open whether it landed) is counted once.
        """

    def totals(self, key: str, now: float) -> Totals:
        """The credits spent and held under ``key`` (expired holds ignored)."""

    def clear(self, key: str) -> None:
        """Forget everything counted under ``key``."""


class MemoryBudgetStore:
    """A budget store in this process's memory, shared by its threads and tasks.

    Counts whole micro-credits (millionths of a credit), so sums are exact.
    """

    blocking = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent: dict[str, int] = {}
        # hold id -> (micro-credits, expiry, the process that took it)
        self._holds: dict[str, dict[str, tuple[int, float, int]]] = {}

    def _live(self, key: str, now: float) -> dict[str, tuple[int, float, int]]:
        # A hold taken here lives until it is settled, however long its run takes: only the
        # marker of a pending submission expires. Holds copied into a forked child belong to
        # runs of the parent, which settles them there.
        holds = self._holds.setdefault(key, {})
        pid = os.getpid()
        for hold_id in [h for h, (_, end, owner) in holds.items() if end <= now or owner != pid]:
            del holds[hold_id]
        return holds

    def _totals(self, key: str, now: float) -> Totals:
        held = sum(amount for amount, _, _ in self._live(key, now).values())
        return Totals(self._spent.get(key, 0) / _MICRO, held / _MICRO)

    def hold(
        self,
        key: str,
        hold_id: str,
        amount: float,
        limit: float,
        now: float,
        ttl: float,
        keep: float,
        exclusive: bool = False,
    ) -> tuple[bool, Totals]:
        """Hold ``amount`` if the budget allows it. See `BudgetStore.hold`."""
        with self._lock:
            totals = self._totals(key, now)
            taken = exclusive and hold_id in self._holds[key]
            if taken or not _allows(totals, amount, limit):
                return False, totals
            end = now + ttl if exclusive else math.inf
            self._holds[key][hold_id] = (round(amount * _MICRO), end, os.getpid())
            return True, totals

    def settle(
        self, key: str, hold_id: str, charge: float, keep: float, settle_id: str = ""
    ) -> None:
        """Drop a hold and count ``charge``. See `BudgetStore.settle` (a settlement here
        never fails, so ``settle_id`` is not needed)."""
        with self._lock:
            self._holds.get(key, {}).pop(hold_id, None)
            if charge:
                self._spent[key] = self._spent.get(key, 0) + round(charge * _MICRO)

    def totals(self, key: str, now: float) -> Totals:
        """Credits spent and held. See `BudgetStore.totals`."""
        with self._lock:
            return self._totals(key, now)

    def clear(self, key: str) -> None:
        """Forget ``key``. See `BudgetStore.clear`."""
        with self._lock:
            self._spent.pop(key, None)
            self._holds.pop(key, None)


def _allows(totals: Totals, amount: float, limit: float) -> bool:
    """A run may start while the budget is not spent and its expected cost still fits."""
    committed = totals.spent + totals.held
    return committed < limit - _EPSILON and committed + amount <= limit + _EPSILON


def refusal(
    credits: float, totals: Totals, amount: float, *, scope: str, what: str
) -> BudgetExceededError:
    """The error refusing a run of ``amount`` credits under a limit of ``credits``."""
    label = "max_credits of this batch" if scope == "batch" else "credit budget"
    left = max(credits - totals.spent - totals.held, 0.0)
    if totals.spent + totals.held >= credits - _EPSILON:
        reason = "is spent"
    else:
        reason = f"has {left:g} credits left and {what} is expected to cost {amount:g}"
    in_flight = f" ({totals.held:g} held by runs in flight)" if totals.held else ""
    return BudgetExceededError(
        f"Not starting {what}: the {label} of {credits:g} {reason}; "
        f"{totals.spent:g} counted so far{in_flight}. Nothing was sent.",
        limit=credits,
        spent=totals.spent,
        held=totals.held,
        requested=amount,
        scope=scope,
    )
