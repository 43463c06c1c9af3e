"""Waiting for an async execution, as pure decisions: no sleeping and no sockets here.

``executions.wait`` in both clients is a loop of the same three steps: poll, ask `Poll`
what the answer means (a result, an error, or "keep polling"), then sleep for as long as
`Poll.next_sleep` says. Only the I/O differs between the sync and the async client, so the
decisions live here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypeAlias

from .._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    ExecutionCancelledError,
    ExecutionFailedError,
    ExecutionTimeoutError,
    InternalServerError,
    KnoudsError,
    RateLimitError,
)
from .._types import NOT_GIVEN, NotGiven
from ..models import Execution, RunResult
from .attempt import check_execution_id
from .checks import check_seconds
from .responses import redact
from .retry import RetryPolicy

__all__ = ["BACKOFF", "ExecutionRef", "Poll", "execution_id_of", "next_interval", "settle"]

# The least time a poll gets, so that even ``timeout=0`` looks once.
_MIN_POLL_TIME = 0.25
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


def settle(execution: Execution, secret: str | None = None) -> RunResult | None:
    """What a polled state means: the result once ``completed``, ``None`` while it runs.

    ``processing``, ``cancel_requested`` and statuses the SDK does not know yet mean "keep
    polling". ``secret`` (the API key) is redacted from a failure's code and message.

    Raises:
        ExecutionFailedError: the execution ended ``failed``; ``code`` and ``message`` are the
            execution's error, ``execution`` its final state.
        ExecutionCancelledError: the execution ended ``cancelled``.
    """
    if execution.status == "completed":
        return execution.to_result()
    if execution.status == "failed":
        error = execution.error
        if error is not None and secret:
            error = error.model_copy(
                update={
                    "code": redact(error.code, secret),
                    "message": redact(error.message, secret),
                }
            )
            execution = execution.model_copy(update={"error": error})
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


def _passing(error: KnoudsError) -> bool:
    """Whether polling again later may succeed where this poll failed."""
    if isinstance(error, ExecutionFailedError):
        return False
    return isinstance(
        error,
        (RateLimitError, APIConnectionError, APIResponseValidationError, InternalServerError),
    )


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
    secret: str | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        execution: ExecutionRef,
        *,
        timeout: float | None,
        poll_interval: float,
        max_poll_interval: float,
        now: float,
        secret: str | None = None,
    ) -> Poll:
        """A new wait starting at ``now``; ``secret`` is redacted from failures.

        Raises:
            ExecutionNotFoundError: the id is not a valid execution id (nothing is sent).
            ConfigurationError: a negative, NaN or infinite timeout (``None`` waits as long as it
                takes), or a poll interval that is not a positive finite number.
        """
        execution_id = check_execution_id(execution_id_of(execution))
        interval = check_seconds(poll_interval, "poll_interval")
        maximum = max(check_seconds(max_poll_interval, "max_poll_interval"), interval)
        limit = None if timeout is None else check_seconds(timeout, "timeout", allow_zero=True)
        deadline = None if limit is None else now + limit
        last = execution if isinstance(execution, Execution) else None
        return cls(execution_id, deadline, interval, maximum, limit, last, secret)

    def observe(self, execution: Execution) -> RunResult | None:
        """Record a polled state; the result when it completed, ``None`` to keep polling.

        Raises:
            ExecutionFailedError: it failed.
            ExecutionCancelledError: it was cancelled.
        """
        self.last = execution
        return settle(execution, self.secret)

    def poll_timeout(self, now: float) -> float | NotGiven:
        """The timeout for the next poll: what is left of the wait, so one slow answer cannot
        hold ``wait`` past its own timeout."""
        if self.deadline is None:
            return NOT_GIVEN
        return max(self.deadline - now, _MIN_POLL_TIME)

    def poll_policy(self, policy: RetryPolicy, now: float) -> RetryPolicy:
        """The retry policy of the next poll: ``policy`` bounded by what is left of the wait, so
        no retry, 429 wait or rate-limit pacing inside one poll outlasts the wait."""
        if self.deadline is None:
            return policy
        left = max(self.deadline - now, _MIN_POLL_TIME)
        deadline = left if policy.deadline is None else min(policy.deadline, left)
        return replace(policy, deadline=deadline, max_retry_wait=min(policy.max_retry_wait, left))

    def after_error(self, error: KnoudsError, now: float) -> float | None:
        """Seconds to wait before polling again after a poll failed, or ``None`` to raise
        ``error`` itself.

        With a timeout, a poll that met a passing trouble (a 429, a timeout, a broken
        connection, a 5xx, an unreadable body) does not end the wait: it polls again while
        time is left, and gives up with `ExecutionTimeoutError` (caused by that error) when
        the time is up or the server asks for a longer wait than is left. Without a timeout,
        and for errors a new poll cannot fix (401, 404, ...), ``error`` is raised.

        Raises:
            ExecutionTimeoutError: no time is left for another poll.
        """
        if self.deadline is None or not _passing(error):
            return None
        wait = self.interval
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            wait = max(wait, error.retry_after)
        if now + wait >= self.deadline:
            raise self.timeout_error() from error
        self.interval = next_interval(self.interval, self.max_interval)
        return wait

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
