"""The sans-I/O core of a call: pace, send, then parse or raise.

No sockets here. One call attempt is a generator (`attempt_flow`) that yields commands,
``Sleep(seconds)``, ``Send(request)`` or ``StoreCall`` (a round trip to a shared rate-limit
store); the sync and async clients each drive it with a few lines of their own I/O. That keeps
one copy of the logic for both clients. Checking arguments lives in `requests`, reading
responses in `responses`; both are re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pydantic

from .._exceptions import (
    APIResponseValidationError,
    KnoudsError,
    RateLimitError,
)
from .._types import Clock
from ..models._ratelimit import RateLimit
from .dispatch import Dispatch, Verdict
from .exchange import BodyTooLarge, SendProgress
from .pacing import Pacing, StoreCall
from .redaction import scrub_chain
from .requests import Endpoint, check_execution_id, check_slug, encode_inputs, encode_workflow
from .responses import (
    map_transport_error,
    parse_execution,
    parse_identity,
    parse_run_result,
    parse_schema,
    parse_workflow,
    parse_workflow_list,
    raise_for_response,
    workflow_echo,
)
from .retry import RetryPolicy, build_retrying, classify, decide
from .settings import DEFAULT_MAX_RESPONSE_BYTES

__all__ = [
    "CallContext",
    "Command",
    "Dispatch",
    "Verdict",
    "attempts",
    "Parse",
    "Endpoint",
    "Send",
    "Sleep",
    "StoreCall",
    "attempt_flow",
    "check_execution_id",
    "check_slug",
    "encode_inputs",
    "encode_workflow",
    "log_facts",
    "map_transport_error",
    "parse_execution",
    "parse_identity",
    "parse_run_result",
    "parse_schema",
    "parse_workflow",
    "parse_workflow_list",
    "raise_for_response",
    "workflow_echo",
]

T = TypeVar("T")
# How a successful body becomes a typed result.
Parse = Callable[[object, "RateLimit | None"], T]
logger = logging.getLogger("knouds")
# The longest pause between two looks at a used-up window whose reset is not known yet.
_MAX_RECHECK = 0.5


# -- one attempt, as a generator of I/O commands -------------------------------------------------


@dataclass(slots=True)
class Sleep:
    """Command: wait this many seconds, then resume the flow.

    Attributes:
        seconds: how long to wait.
        reason: why, for the telemetry and the logs: ``"pacing"`` (the rate-limit window is
            spent), ``"retry"`` (before the next attempt) or ``"in_flight"`` (a journaled run of
            the same key is running elsewhere).
        cause: for a retry, what the failed attempt met (`classify`: ``"rate_limited"``,
            ``"not_sent"``, ``"unknown_outcome"``, ``"server_error"``).
    """

    seconds: float
    reason: str = "pacing"
    cause: str | None = None


@dataclass(slots=True)
class Send:
    """Command: send this request and resume the flow with the ``httpx.Response`` (its body
    read) or the exception the exchange raised.

    Attributes:
        request: what to send.
        limit: wall-clock seconds the whole exchange may take, from connecting to the last body
            byte (``None``: no bound beyond the per-operation timeouts). Past it the shell gives
            up with ``httpx.ReadTimeout``.
        max_bytes: the most body bytes (after decompression) to read; past it the shell stops
            reading and resumes the flow with `BodyTooLarge`.
        attempt: which request of the call this is (1 for the first, 2 for the first retry).
    """

    request: httpx.Request
    limit: float | None = None
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    attempt: int = 1
    progress: SendProgress = field(default_factory=SendProgress, compare=False)


Command = Sleep | Send | StoreCall


@dataclass
class CallContext:
    """Everything one call needs, resolved from the client's settings and the call's options."""

    endpoint: Endpoint
    url: httpx.URL
    headers: dict[str, str]
    timeout: httpx.Timeout
    content: bytes | None
    params: dict[str, str] | None
    policy: RetryPolicy
    pace: bool
    pacing: Pacing
    clock: Clock
    api_key: str | None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    started: float = 0.0
    deadline_at: float | None = None
    # What this call's attempts report to (the pipeline's; a fresh one for a lone attempt).
    dispatch: Dispatch = field(default_factory=Dispatch)

    def __post_init__(self) -> None:
        self.started = self.clock()
        if self.policy.deadline is not None:
            self.deadline_at = self.started + self.policy.deadline

    def build_request(self) -> httpx.Request:
        """The request for one attempt; the timeout is cut to what is left of the deadline."""
        timeout = self.timeout
        if self.deadline_at is not None:
            left = max(self.deadline_at - self.clock(), 0.001)
            timeout = httpx.Timeout(
                connect=_cap(timeout.connect, left),
                read=_cap(timeout.read, left),
                write=_cap(timeout.write, left),
                pool=_cap(timeout.pool, left),
            )
        return new_request(
            self.endpoint.method,
            self.url,
            params=self.params,
            headers=self.headers,
            content=self.content,
            extensions={"timeout": timeout.as_dict()},
        )

    def send(self) -> Send:
        """The command for one attempt: its request, its wall-clock limit and its body cap.

        The limit is the largest of the attempt's timeouts (each phase fits inside it), cut to
        what is left of the policy's deadline; an unbounded phase leaves only the deadline.
        """
        timeout = self.timeout
        phases = (timeout.connect, timeout.read, timeout.write, timeout.pool)
        limit = None if None in phases else max(p for p in phases if p is not None)
        if self.deadline_at is not None:
            left = max(self.deadline_at - self.clock(), 0.001)
            limit = left if limit is None else min(limit, left)
        dispatch = self.dispatch
        dispatch.sends += 1
        return Send(self.build_request(), limit, self.max_response_bytes, dispatch.sends)

    def pacing_error(self, wait: float, waited: float = 0.0) -> RateLimitError | None:
        """The error to raise instead of waiting ``wait`` more seconds for the window, if any.

        ``waited`` is what this attempt already spent waiting for it: the policy's
        ``max_retry_wait`` bounds the total, not each wait.
        """
        limit = self.policy.max_retry_wait - waited
        if self.deadline_at is not None:
            limit = min(limit, self.deadline_at - self.clock())
        if wait <= limit:
            return None
        snapshot = self.pacing.snapshot().get(self.endpoint.bucket)
        return RateLimitError(
            f"The rate-limit window for {self.endpoint.bucket} is used up until it resets "
            f"in {wait:.1f} s, longer than this call may wait ({max(limit, 0.0):.1f} s)",
            code="RATE_LIMIT_EXCEEDED",
            retry_after=wait,
            rate_limit=snapshot,
        )


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def new_request(
    method: str,
    url: httpx.URL,
    *,
    params: dict[str, str] | None,
    headers: dict[str, str],
    content: bytes | None,
    extensions: dict[str, object],
) -> httpx.Request:
    """The same request as ``httpx.Request(method, url, params=..., headers=..., content=...)``,
    built the short way.

    httpx derives ``Host`` and ``Content-Length`` and wraps the body through a generic encoding
    step that looks each header up again (a third of the cost of building a request). Here they
    are set directly and the body is passed as an already-complete stream, then read, so
    ``request.content`` is there as with ``content=``.
    """
    if params is not None:
        url = httpx.URL(url, params=params)  # as httpx.Request does: params replace the query
    prepared = {"host": url.netloc.decode("ascii"), **headers}
    if content is not None:
        prepared.setdefault("content-length", str(len(content)))
    elif method in _BODY_METHODS:
        prepared.setdefault("content-length", "0")
    request = httpx.Request(
        method,
        url,
        headers=prepared,
        stream=httpx.ByteStream(content or b""),
        extensions=extensions,
    )
    request.read()
    return request


def log_facts(
    endpoint: Endpoint,
    *,
    attempt: int | None = None,
    status: int | None = None,
    wait: float | None = None,
) -> dict[str, object]:
    """The ``extra`` fields of a log record about a call, for structured logging: its operation
    and model (or workflow), and the attempt, status and wait it is about. Never the key, the
    inputs or the outputs."""
    return {
        "knouds_operation": endpoint.operation(),
        "knouds_model": endpoint.target,
        "knouds_method": endpoint.method,
        "knouds_path": endpoint.path,
        "knouds_attempt": attempt,
        "knouds_status": status,
        "knouds_wait": wait,
    }


def _cap(value: float | None, limit: float) -> float:
    return limit if value is None else min(value, limit)


def attempt_flow(
    ctx: CallContext, parse: Callable[[object, RateLimit | None], T]
) -> Generator[Command, object, T]:
    """One attempt: wait for room in the rate-limit window, send, parse or raise a knouds error."""
    ticket: Any = None
    try:
        waited = last_wait = 0.0
        while True:
            ticket, wait = yield from ctx.pacing.acquire(ctx.endpoint.bucket, pace=ctx.pace)
            if ticket is not None:
                break
            error = ctx.pacing_error(wait, waited)
            if error is not None:
                raise error
            if waited == 0.0 and logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "Pacing: %s window used up, waiting %.2f s",
                    ctx.endpoint.bucket,
                    wait,
                    extra=log_facts(ctx.endpoint, wait=wait),
                )
            # A short answer means "the reset is unknown until a response in flight tells":
            # ask again at growing intervals rather than spinning on short sleeps.
            wait = max(wait, min(last_wait * 2, _MAX_RECHECK))
            error = ctx.pacing_error(wait, waited)
            if error is not None:
                raise error
            waited += wait
            last_wait = wait
            yield Sleep(wait, "pacing")
        send = ctx.send()
        request = send.request
        dispatch = ctx.dispatch
        dispatch.in_hand = send
        outcome = yield send
        dispatch.attempted(outcome)
        if isinstance(outcome, BodyTooLarge):
            raise APIResponseValidationError(
                f"Knouds answered {outcome.response.status_code} with a body larger than "
                f"{outcome.limit} bytes (max_response_bytes); the SDK stopped reading it",
                response=outcome.response,
            ) from None
        if not isinstance(outcome, httpx.Response):
            assert isinstance(outcome, Exception)
            mapped = map_transport_error(outcome, request, ctx.api_key)
            # A traceback shows the failure it came from: keep it only once it shows no key.
            raise mapped from (outcome if scrub_chain(outcome, ctx.api_key) else None)
        now = ctx.clock()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d (attempt %d)",
                request.method,
                request.url.path,
                outcome.status_code,
                send.attempt,
                extra=log_facts(ctx.endpoint, attempt=send.attempt, status=outcome.status_code),
            )
        rate_limit = RateLimit.from_headers(outcome.headers, now=now)
        paced = rate_limit.for_pacing(now) if rate_limit is not None else None
        try:
            yield from ctx.pacing.release(ticket, paced)
        except GeneratorExit:
            raise
        except BaseException as interrupt:
            # The answer is in hand: an interrupt while the slot is handed back must not cost
            # the caller its result. The slot is given back without I/O; the interrupt is raised
            # once the run is settled and recorded.
            ctx.pacing.abandon(ticket)
            ctx.dispatch.interrupted = ctx.dispatch.interrupted or interrupt
        ticket = None
        body = raise_for_response(outcome, ctx.endpoint, rate_limit, now=now, api_key=ctx.api_key)
        try:
            return parse(body, rate_limit)
        except pydantic.ValidationError as exc:
            raise APIResponseValidationError(
                f"Knouds answered {outcome.status_code} with a body the SDK cannot read: "
                f"{exc.error_count()} problem(s), first: {_first_problem(exc)}",
                response=outcome,
                body=body,
            ) from None
    finally:
        if ticket is not None:
            ctx.pacing.abandon(ticket)


def _first_problem(exc: pydantic.ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


def attempts(ctx: CallContext, parse: Parse[T]) -> Generator[Command, object, T]:
    """Every attempt of one call: the first, then the retries its policy allows (tenacity,
    a fresh loop per call, whose waits become `Sleep` commands)."""
    try:
        return (yield from attempt_flow(ctx, parse))
    except KnoudsError as error:
        policy = ctx.policy
        if policy.max_retries <= 0 or not decide(error, policy, idempotent=ctx.endpoint.idempotent):
            raise
        pending: KnoudsError | None = error
        last: KnoudsError = error  # what the attempt before a retry met
    waits: list[float] = []
    retrying = build_retrying(
        ctx.policy,
        idempotent=ctx.endpoint.idempotent,
        method=ctx.endpoint.method,
        path=ctx.endpoint.path,
        operation=ctx.endpoint.operation(),
        target=ctx.endpoint.target,
        clock=ctx.clock,
        started=ctx.started,
        sleep=waits.append,
    )
    for attempt in retrying:
        if waits:
            yield Sleep(waits.pop(), "retry", classify(last))
        with attempt:
            if pending is not None:
                failed, pending = pending, None
                raise failed
            try:
                return (yield from attempt_flow(ctx, parse))
            except KnoudsError as failure:
                last = failure
                raise
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
