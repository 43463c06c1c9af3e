"""The spend rules: which model or workflow a run counts against, what a credit amount is, and
what a reported cost means. The ledger that holds and counts (`SpendTracker`, per client) is in
``knouds/_stores/spend.py``; the run pipeline (``pipeline``) calls it at `Hold` and `Settle`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RunRef", "charged"]


@dataclass(frozen=True)
class RunRef:
    """Which model or workflow a run belongs to."""

    kind: str  # "model" or "workflow"
    name: str

    @property
    def label(self) -> str:
        return f"a run of {self.kind} {self.name!r}"


def charged(cost: object) -> float | None:
    """A cost as reported, if it is a credit amount (JSON parsers also take NaN, Infinity and
    negative numbers: counting those would poison or refund the budget)."""
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        return None
    return float(cost) if math.isfinite(cost) and cost >= 0 else None
