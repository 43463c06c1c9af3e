"""The retry policy as data, pure decisions over it, and a fresh tenacity loop per call.

Nothing here sleeps or sends: `decide` and `compute_wait` are plain functions of an
error and the policy, and `build_retrying` hands tenacity those functions plus the caller's
sleep. tenacity is imported only when a call actually needs to retry.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from .._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    InternalServerError,
    KnoudsError,
    RateLimitError,
)
from .._public import publish
from .._types import Clock
from .checks import check_callable, check_count, check_seconds

if TYPE_CHECKING:
    import tenacity

__all__ = ["FailureKind", "RetryEvent", "RetryPolicy", "build_retrying", "classify", "decide"]

logger = logging.getLogger("knouds")

FailureKind = Literal["rate_limited", "not_sent", "unknown_outcome", "server_error", "fatal"]
_TRANSIENT_STATUSES = frozenset({408, 502, 503, 504})


@dataclass(frozen=True)
class RetryEvent:
    """What the SDK is about to do after a failed attempt; passed to ``RetryPolicy.on_retry``.

    Attributes:
        attempt: the number of the attempt that failed (1 for the first).
        wait: seconds the SDK will wait before the next attempt.
        reason: why it retries, e.g. ``"rate_limited"`` or ``"not_sent"``.
        error: the error of the failed attempt.
        method, path: the request being retried (never the API key).
    """

    attempt: int
    wait: float
    reason: str
    error: KnoudsError
    method: str
    path: str


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried, how often, and how long to wait.

    The defaults never spend credits twice: a run is re-sent only when the server rejected it
    with 429 or when it provably never reached the server. Requests that change nothing (GETs,
    such as polling an execution) are also retried after read timeouts and 502/503/504.

    Attributes:
        max_retries: retries after the first attempt (``0`` disables retrying).
        initial_backoff: first backoff in seconds when the server gives no wait.
        max_backoff: ceiling of the exponential backoff.
        jitter: randomise waits (backoff between half and all of its value; server-directed
            waits lengthened by up to 10 %) so many clients do not retry in lockstep.
        max_retry_wait: the longest wait the SDK accepts, for a 429 or for pacing. A longer
            wait raises `RateLimitError` at once, with ``retry_after`` set.
        deadline: total seconds for the call, attempts and waits included (``None``: no limit).
            A retry whose wait would pass it is not made.
        retry_rate_limited: retry 429 responses.
        retry_connection_errors: retry failures where the request never reached the server
            (connection refused, connect timeout, no pooled connection free).
        retry_unknown_outcome: also retry runs whose outcome is unknown (read timeout, dropped
            connection, 5xx after sending). Off by default: the run may have happened and been
            charged, and the API has no idempotency key.
        on_retry: called with a `RetryEvent` before each retry's wait, in the thread or
            task that retries (several at once under threads or ``run_many``: keep it
            thread-safe and quick).

    Raises:
        ConfigurationError: a field that cannot work: ``max_retries`` that is not a whole
            number >= 0, a negative or NaN backoff or ``max_retry_wait``, an infinite
            ``initial_backoff``, a ``deadline`` that is not a positive finite number, an
            ``on_retry`` that is not callable (a bool is never taken for a number).
    """

    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: bool = True
    max_retry_wait: float = 60.0
    deadline: float | None = None
    retry_rate_limited: bool = True
    retry_connection_errors: bool = True
    retry_unknown_outcome: bool = False
    on_retry: Callable[[RetryEvent], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Refused here, before any call uses the policy: each raises ConfigurationError.
        check_count(self.max_retries, "max_retries")
        check_seconds(self.initial_backoff, "initial_backoff", allow_zero=True)
        check_seconds(self.max_backoff, "max_backoff", allow_zero=True, allow_infinity=True)
        check_seconds(self.max_retry_wait, "max_retry_wait", allow_zero=True, allow_infinity=True)
        if self.deadline is not None:
            check_seconds(self.deadline, "deadline")
        check_callable(self.on_retry, "on_retry")

    def with_max_retries(self, max_retries: int) -> RetryPolicy:
        """A copy with another ``max_retries``."""
        return replace(self, max_retries=max_retries)


def classify(error: BaseException) -> FailureKind:
    """Sort a failed attempt by what a retry would risk."""
    if isinstance(error, RateLimitError):
        return "rate_limited" if error.status_code == 429 else "fatal"
    if isinstance(error, APIConnectionError):
        return "unknown_outcome" if error.sent else "not_sent"
    if isinstance(error, APIStatusError) and error.status_code is not None:
        if error.status_code in _TRANSIENT_STATUSES:
            return "unknown_outcome"
        if isinstance(error, InternalServerError):
            return "server_error"
    if isinstance(error, APIResponseValidationError):
        return "unknown_outcome"
    return "fatal"


def decide(error: BaseException, policy: RetryPolicy, *, idempotent: bool) -> bool:
    """Whether ``error`` may be retried under ``policy`` (attempt counts aside)."""
    kind = classify(error)
    if kind == "rate_limited":
        assert isinstance(error, RateLimitError)
        wait = error.retry_after
        return policy.retry_rate_limited and (wait is None or wait <= policy.max_retry_wait)
    if kind == "not_sent":
        return policy.retry_connection_errors
    if kind == "unknown_outcome":
        return idempotent or policy.retry_unknown_outcome
    if kind == "server_error":
        return policy.retry_unknown_outcome
    return False


def compute_wait(
    error: BaseException, attempt: int, policy: RetryPolicy, rng: random.Random | None = None
) -> float:
    """Seconds to wait after failed attempt number ``attempt``.

    A 429's server-directed wait (already resolved from ``Retry-After``, the body's
    ``retryAfter`` or the window reset) wins; otherwise exponential backoff.
    """
    rand: Callable[[], float] = (rng or random).random
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        wait = float(error.retry_after)
        return wait * (1.0 + 0.1 * rand()) if policy.jitter else wait
    backoff = min(policy.max_backoff, policy.initial_backoff * 2.0 ** max(attempt - 1, 0))
    return backoff * (0.5 + 0.5 * rand()) if policy.jitter else backoff


def _describe(error: BaseException) -> str:
    if isinstance(error, APIStatusError):
        return f"HTTP {error.status_code} {error.code or ''}".rstrip()
    return type(error).__name__


def build_retrying(
    policy: RetryPolicy,
    *,
    idempotent: bool,
    method: str,
    path: str,
    operation: str,
    target: str | None,
    clock: Clock,
    started: float,
    sleep: Callable[[float], Any],
) -> tenacity.Retrying:
    """A fresh ``tenacity.Retrying`` for one call. Never shared.

    ``started`` is the clock reading when the call began, so the deadline covers every attempt.
    The run pipeline passes a ``sleep`` that only notes each wait, and yields it as a `Sleep`
    command: tenacity decides, the driver sleeps (the same loop serves both clients).
    """
    import tenacity

    def should_retry(state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        return error is not None and decide(error, policy, idempotent=idempotent)

    def wait(state: tenacity.RetryCallState) -> float:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert error is not None
        return compute_wait(error, state.attempt_number, policy)

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number > policy.max_retries:
            return True
        if policy.deadline is not None:
            return clock() - started + (state.upcoming_sleep or 0.0) > policy.deadline
        return False

    def before_sleep(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert isinstance(error, KnoudsError)
        event = RetryEvent(
            attempt=state.attempt_number,
            wait=state.upcoming_sleep,
            reason=classify(error),
            error=error,
            method=method,
            path=path,
        )
        status = error.status_code if isinstance(error, APIStatusError) else None
        logger.info(
            "Retrying %s %s in %.2f s (attempt %d of %d failed: %s)",
            method,
            path,
            event.wait,
            event.attempt,
            policy.max_retries + 1,
            _describe(error),
            extra={
                "knouds_operation": operation,
                "knouds_method": method,
                "knouds_path": path,
                "knouds_model": target,
                "knouds_attempt": event.attempt,
                "knouds_status": status,
                "knouds_wait": event.wait,
                "knouds_retry_reason": event.reason,
            },
        )
        if policy.on_retry is not None:
            policy.on_retry(event)

    options: dict[str, Any] = {
        "retry": should_retry,
        "wait": wait,
        "stop": stop,
        "sleep": sleep,
        "before_sleep": before_sleep,
        "reraise": True,
    }
    return tenacity.Retrying(**options)


publish(globals())
