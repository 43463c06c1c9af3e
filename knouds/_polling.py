"""Waiting for an async execution, as pure decisions: no sleeping and no sockets here.

``executions.wait`` in both clients is a loop of the same three steps: poll, ask `Poll`
what the answer means (a result, an error, or "keep polling"), then sleep for as long as
`Poll.next_sleep` says. Only the I/O differs between the sync and the async client, so the
decisions live here once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypeAlias

from ._core import check_execution_id
from ._exceptions import ExecutionCancelledError, ExecutionFailedError, ExecutionTimeoutError
from ._types import NOT_GIVEN, NotGiven
from .models import Execution, RunResult

__all__ = ["BACKOFF", "ExecutionRef", "Poll", "execution_id_of", "next_interval", "settle"]

_MIN_POLL_TIMEOUT = 1.0
BACKOFF = 1.5
"""Each wait between polls is this many times the previous one, up to the maximum."""

ExecutionRef: TypeAlias = "str | Execution"
"""An execution id, or an `Execution` (its ``id`` is used)."""


def execution_id_of(execution: ExecutionRef) -> str:
    """The id of an execution given by id or as an `Execution`."""
    return execution.id if isinstance(execution, Execution) else execution


def next_interval(current: float, maximum: float) -> float:
    """The wait before the poll after next: ``current`` grown by `BACKOFF`, capped."""
    return min(current * BACKOFF, maximum)


def settle(execution: Execution) -> RunResult | None:
    """What a polled state means: the result once ``completed``, ``None`` while it runs.

    ``processing``, ``cancel_requested`` and statuses the SDK does not know yet mean "keep
    polling".

    Raises:
        ExecutionFailedError: the execution ended ``failed``; ``code`` and ``message`` are the
            execution's error, ``execution`` its final state.
        ExecutionCancelledError: the execution ended ``cancelled``.
    """
    if execution.status == "completed":
        return execution.to_result()
    if execution.status == "failed":
        error = execution.error
        message = (error.message if error else None) or f"Execution {execution.id} failed"
        raise ExecutionFailedError(
            message,
            code=error.code if error else None,
            status_code=None,
            body=execution.model_dump(mode="json", by_alias=True),
            execution=execution,
        )
    if execution.status == "cancelled":
        raise ExecutionCancelledError(
            f"Execution {execution.id} was cancelled before it completed.", execution=execution
        )
    return None


def _check_seconds(name: str, value: float, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


@dataclass
class Poll:
    """The state of one ``wait``: when it started, how long to wait next, what was seen last.

    Build it with `start`; feed each polled state to `observe`; ask
    `next_sleep` how long to sleep before the next poll.
    """

    execution_id: str
    deadline: float | None
    interval: float
    max_interval: float
    timeout: float | None
    last: Execution | None = field(default=None)

    @classmethod
    def start(
        cls,
        execution: ExecutionRef,
        *,
        timeout: float | None,
        poll_interval: float,
        max_poll_interval: float,
        now: float,
    ) -> Poll:
        """A new wait starting at ``now``.

        Raises:
            ExecutionNotFoundError: the id is not a valid execution id (nothing is sent).
            ValueError: a negative timeout, or a poll interval that is not positive.
        """
        execution_id = check_execution_id(execution_id_of(execution))
        interval = _check_seconds("poll_interval", poll_interval, allow_zero=False)
        maximum = max(
            _check_seconds("max_poll_interval", max_poll_interval, allow_zero=False), interval
        )
        limit = None if timeout is None else _check_seconds("timeout", timeout, allow_zero=True)
        deadline = None if limit is None else now + limit
        last = execution if isinstance(execution, Execution) else None
        return cls(execution_id, deadline, interval, maximum, limit, last)

    def observe(self, execution: Execution) -> RunResult | None:
        """Record a polled state; the result when it completed, ``None`` to keep polling.

        Raises:
            ExecutionFailedError: it failed.
            ExecutionCancelledError: it was cancelled.
        """
        self.last = execution
        return settle(execution)

    def poll_timeout(self, now: float) -> float | NotGiven:
        """The timeout for the next poll: what is left of the wait (at least a second), so one
        slow answer cannot hold ``wait`` far past its own timeout."""
        if self.deadline is None:
            return NOT_GIVEN
        return max(self.deadline - now, _MIN_POLL_TIMEOUT)

    def next_sleep(self, now: float) -> float:
        """Seconds to sleep before the next poll (the last poll happens at the deadline).

        Raises:
            ExecutionTimeoutError: the timeout ran out; the execution goes on on the server.
        """
        wait = self.interval
        if self.deadline is not None:
            left = self.deadline - now
            if left <= 0:
                raise self.timeout_error()
            wait = min(wait, left)
        self.interval = next_interval(self.interval, self.max_interval)
        return wait

    def timeout_error(self) -> ExecutionTimeoutError:
        """The error saying the wait gave up, and how to resume it."""
        status = self.last.status if self.last is not None else "processing"
        waited = f"{self.timeout:g} s" if self.timeout is not None else "the timeout"
        return ExecutionTimeoutError(
            f"Execution {self.execution_id} is still {status} after waiting {waited}; it goes on "
            f"running on the server. Resume with client.executions.wait({self.execution_id!r}) "
            "(a larger timeout= helps), or stop it with client.executions.cancel(...).",
            execution_id=self.execution_id,
            execution=self.last,
        )
