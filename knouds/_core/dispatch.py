"""One truth about sending: `Dispatch`, what a call's attempts prove about whether its request
could have been processed, and the `Verdict` the journal, the budget, the usage and the command
line all read from it (see ``docs/architecture.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import httpx

from .._exceptions import ExecutionCancelledError, ExecutionFailedError
from .exchange import BodyTooLarge
from .responses import may_have_been_sent

if TYPE_CHECKING:
    from .attempt import Send

__all__ = ["Dispatch", "Verdict"]


Verdict = Literal["rejected", "failed", "unknown"]
"""What a run that ended in an error says about whether it ran (see `Dispatch.verdict`)."""


@dataclass
class Dispatch:
    """Whether a call's request may have been processed: the one truth the journal (``rejected``
    or ``unknown``), the budget (release or charge), the usage (confirmed or not) and the retry
    loop all read, whatever ended the call.

    Attributes:
        processed: an attempt ended in a way that leaves open whether the server ran it (an
            answer it could have charged for, or an error after the request started to leave).
            An answer refusing the request (any 4xx but 408) proves that attempt did not run.
        in_hand: the `Send` of the attempt under way, while the shell has it (``None`` before
            the first `Send` and between attempts).
    """

    processed: bool = False
    in_hand: Send | None = None
    # What interrupted the bookkeeping of a run that succeeded (raised once it is recorded).
    interrupted: BaseException | None = None
    sends: int = 0  # requests this call made so far

    @property
    def nothing_processed(self) -> bool:
        """Whether provably nothing ran: no attempt could have been processed, and the one in
        hand (if any) had not started writing its request by the shell's account."""
        if self.processed:
            return False
        if self.in_hand is None:
            return True
        return self.in_hand.progress.nothing_sent

    def attempted(self, outcome: object) -> None:
        """Account for an attempt that ended with ``outcome`` (a response, or what the
        exchange raised)."""
        self.in_hand = None
        if isinstance(outcome, httpx.Response):
            status = outcome.status_code
            if 400 <= status < 500 and status != 408:
                return  # refused: that attempt did not run
            self.processed = True
        elif isinstance(outcome, BodyTooLarge) or (
            isinstance(outcome, Exception) and may_have_been_sent(outcome)
        ):
            self.processed = True

    def verdict(self, error: BaseException) -> Verdict:
        """The judgement of a run that ended in ``error``.

        ``rejected``: provably not processed; sending it again is safe and nothing was charged.
        ``failed``: it ran and ended in failure (the provider failed, or the execution was
        cancelled). ``unknown``: it may have run.
        """
        if isinstance(error, (ExecutionFailedError, ExecutionCancelledError)):
            return "failed"
        if self.nothing_processed:
            return "rejected"
        return "unknown"
