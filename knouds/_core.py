"""The sans-I/O core: validate arguments, build requests, pace, parse responses, map errors.

No sockets here. One call attempt is a generator (`attempt_flow`) that yields commands,
``Sleep(seconds)`` or ``Send(request)``; the sync and async clients each drive it with a few lines
of their own I/O. That keeps one copy of the logic for both clients.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pydantic

from ._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    ExecutionNotFoundError,
    InvalidInputsError,
    InvalidSlugError,
    ModelNotFoundError,
    NotFoundError,
    RateLimitError,
    WorkflowNotFoundError,
    class_for,
)
from ._ratelimit import Pacer, RateLimit, Ticket, parse_retry_after
from ._retry import RetryPolicy
from ._types import Clock
from .models import Execution, Identity, RunResult, WorkflowSchema

__all__ = [
    "CallContext",
    "Endpoint",
    "Send",
    "Sleep",
    "attempt_flow",
    "check_execution_id",
    "check_slug",
    "encode_inputs",
    "map_transport_error",
    "raise_for_response",
]

T = TypeVar("T")
logger = logging.getLogger("knouds")
SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
EXECUTION_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


# -- arguments ------------------------------------------------------------------------------------


def check_slug(value: object, what: str) -> str:
    """A valid model name or workflow slug, or `InvalidSlugError` (nothing is sent)."""
    if not isinstance(value, str) or SLUG_RE.fullmatch(value) is None:
        raise InvalidSlugError(
            f"{value!r} is not a valid {what}: use lowercase letters, digits and hyphens",
            code="INVALID_SLUG",
        )
    return value


def check_execution_id(value: object) -> str:
    """An execution id safe to put in a path, or `ExecutionNotFoundError`."""
    if not isinstance(value, str) or EXECUTION_ID_RE.fullmatch(value) is None:
        raise ExecutionNotFoundError(f"{value!r} is not a valid execution id")
    return value


def _find_unserialisable(value: object, path: str) -> tuple[str, object] | None:
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} key {key!r}", key
            found = _find_unserialisable(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_unserialisable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    return path, value


def encode_inputs(inputs: object) -> bytes:
    """``{"inputs": inputs}`` as JSON bytes, or `InvalidInputsError` naming the bad value."""
    if not isinstance(inputs, Mapping):
        raise InvalidInputsError(
            f"inputs must be a mapping of field names to values, got {type(inputs).__name__} "
            f"{_short(inputs)}",
            code="INVALID_INPUTS",
        )
    problem = _find_unserialisable(inputs, "inputs")
    if problem is not None:
        where, value = problem
        raise InvalidInputsError(
            f"{where} is {type(value).__name__} {_short(value)}, which is not JSON-serialisable "
            "(use str, int, float, bool, None, lists and dicts with string keys; finite numbers)",
            code="INVALID_INPUTS",
        )
    payload = inputs if isinstance(inputs, dict) else dict(inputs)
    return json.dumps({"inputs": payload}, ensure_ascii=False, allow_nan=False).encode()


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- endpoints -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One API route: how to call it, which rate-limit bucket it counts against, and whether a
    repeat is harmless."""

    method: str
    path: str
    bucket: str
    idempotent: bool
    not_found: type[NotFoundError] = NotFoundError
    authenticated: bool = True

    @classmethod
    def model_run(cls, name: str) -> Endpoint:
        """``POST /api/models/{name}/run``."""
        path = f"/api/models/{check_slug(name, 'model name')}/run"
        return cls("POST", path, "models", False, ModelNotFoundError)

    @classmethod
    def workflow_run(cls, slug: str) -> Endpoint:
        """``POST /api/workflows/{slug}/run``."""
        path = f"/api/workflows/{check_slug(slug, 'workflow slug')}/run"
        return cls("POST", path, "workflows", False, WorkflowNotFoundError)

    @classmethod
    def workflow_schema(cls, slug: str, *, public: bool = False) -> Endpoint:
        """``GET /api/workflows/{slug}/schema`` (or ``public-schema``, sent without the key)."""
        leaf = "public-schema" if public else "schema"
        path = f"/api/workflows/{check_slug(slug, 'workflow slug')}/{leaf}"
        return cls("GET", path, f"workflows.{leaf}", True, WorkflowNotFoundError, not public)

    @classmethod
    def execution(cls, execution_id: str, *, cancel: bool = False) -> Endpoint:
        """``GET /api/executions/{id}`` or ``POST /api/executions/{id}/cancel``."""
        path = f"/api/executions/{check_execution_id(execution_id)}"
        if cancel:
            return cls("POST", path + "/cancel", "executions", True, ExecutionNotFoundError)
        return cls("GET", path, "executions", True, ExecutionNotFoundError)

    @classmethod
    def whoami(cls) -> Endpoint:
        """``GET /api/whoami``."""
        return cls("GET", "/api/whoami", "whoami", True)


# -- responses -------------------------------------------------------------------------------------


def _decode(response: httpx.Response) -> tuple[object, bool]:
    """The JSON body and whether it decoded."""
    content = response.content
    if not content:
        return None, False
    try:
        return json.loads(content), True
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None, False


def _describe_body(response: httpx.Response) -> str:
    text = response.content[:2048].decode("utf-8", "replace").strip()
    reason = response.reason_phrase or ""
    head = f"Knouds answered {response.status_code} {reason}".rstrip()
    if not text:
        return f"{head} with an empty body"
    if text.startswith("<"):
        return f"{head} with an HTML page instead of JSON (a proxy or gateway in front of the API)"
    return f"{head} with a body that is not JSON: {_short(text, 120)}"


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret and secret in text else text


def raise_for_response(
    response: httpx.Response,
    endpoint: Endpoint,
    rate_limit: RateLimit | None,
    *,
    now: float,
    api_key: str | None = None,
) -> object:
    """The decoded body of a successful response, or the typed error the response stands for."""
    body, decoded = _decode(response)
    status = response.status_code
    if 200 <= status < 300:
        if not decoded or not isinstance(body, dict):
            problem = (
                _describe_body(response)
                if not decoded
                else f"Knouds answered {status} with JSON that is not an object: {_short(body)}"
            )
            raise APIResponseValidationError(
                _redact(problem, api_key), response=response, body=body if decoded else None
            )
        if body.get("success") is not False:
            return body
    code, message = _code_and_message(body)
    if 200 <= status < 300 and code is None:  # a 2xx carrying "success": false and no code
        raise APIResponseValidationError(
            _redact(f"Knouds answered {status} with success=false: {message or body!r}", api_key),
            response=response,
            body=body,
        )
    if 300 <= status < 400:
        target = response.headers.get("location", "?")
        message = (
            f"Knouds answered with a redirect ({status}) to {target}; the SDK does not follow "
            "redirects, so the API key never travels elsewhere. Check base_url"
        )
    if message is None:
        message = _describe_body(response) if not decoded else f"Knouds answered {status}"
    cls = class_for(status, code)
    if status == 404 and code is None and cls is NotFoundError:
        cls = endpoint.not_found
    kwargs: dict[str, Any] = {
        "status_code": status,
        "code": code,
        "body": body if decoded else (response.text[:2048] or None),
        "response": response,
        "rate_limit": rate_limit,
    }
    if issubclass(cls, RateLimitError):
        kwargs["retry_after"] = _server_wait(response, body, rate_limit, now)
    raise cls(_redact(message, api_key), **kwargs)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _code_and_message(body: object) -> tuple[str | None, str | None]:
    """The error code and message of an error body, wherever the server put them."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):  # a nested {"error": {"message", "code"}}, as some proxies send
        return _text(body.get("code")) or _text(error.get("code")), _text(error.get("message"))
    return _text(body.get("code")), _text(error) or _text(body.get("message"))


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _server_wait(
    response: httpx.Response, body: object, rate_limit: RateLimit | None, now: float
) -> float | None:
    """How long a 429 asks to wait: ``Retry-After``, else the body's ``retryAfter``, else until
    the window resets."""
    wait = parse_retry_after(response.headers, now=now)
    if wait is not None:
        return wait
    if isinstance(body, dict):
        seconds = _finite(body.get("retryAfter"))
        if seconds is not None and seconds >= 0:
            return seconds
    if rate_limit is not None:
        return rate_limit.seconds_until_reset(now)
    return None


def map_transport_error(error: Exception, request: httpx.Request) -> APIConnectionError:
    """An httpx transport failure as a knouds error, noting whether the request may have been
    sent."""
    where = f"{request.method} {request.url.path}"
    if isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return APITimeoutError(
            f"Timed out connecting to Knouds for {where}; nothing was sent",
            request=request,
            sent=False,
        )
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(
            f"Timed out waiting for Knouds to answer {where}; the request may have been "
            "processed (raise the timeout for long runs)",
            request=request,
        )
    if isinstance(error, (httpx.ConnectError, httpx.UnsupportedProtocol)):
        return APIConnectionError(
            f"Could not connect to Knouds at {request.url.scheme}://{request.url.netloc.decode()} "
            f"for {where}: {error or type(error).__name__}",
            request=request,
            sent=False,
        )
    return APIConnectionError(
        f"The connection broke during {where} ({type(error).__name__}: {error}); the request may "
        "have been processed",
        request=request,
    )


# -- one attempt, as a generator of I/O commands -------------------------------------------------


@dataclass(frozen=True)
class Sleep:
    """Command: wait this many seconds, then resume the flow."""

    seconds: float


@dataclass(frozen=True)
class Send:
    """Command: send this request and resume the flow with the ``httpx.Response`` or the
    ``httpx.RequestError`` it raised."""

    request: httpx.Request


Command = Sleep | Send


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
    pacer: Pacer
    clock: Clock
    api_key: str | None
    started: float = 0.0
    deadline_at: float | None = None

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
        return httpx.Request(
            self.endpoint.method,
            self.url,
            params=self.params,
            headers=self.headers,
            content=self.content,
            extensions={"timeout": timeout.as_dict()},
        )

    def pacing_error(self, wait: float) -> RateLimitError | None:
        """The error to raise instead of waiting ``wait`` seconds for the budget, if any."""
        limit = self.policy.max_retry_wait
        if self.deadline_at is not None:
            limit = min(limit, self.deadline_at - self.clock())
        if wait <= limit:
            return None
        snapshot = self.pacer.snapshot().get(self.endpoint.bucket)
        return RateLimitError(
            f"The rate-limit budget for {self.endpoint.bucket} is spent until the window resets "
            f"in {wait:.1f} s, longer than this call may wait ({limit:.1f} s)",
            code="RATE_LIMIT_EXCEEDED",
            retry_after=wait,
            rate_limit=snapshot,
        )


def _cap(value: float | None, limit: float) -> float:
    return limit if value is None else min(value, limit)


def attempt_flow(
    ctx: CallContext, parse: Callable[[object, RateLimit | None], T]
) -> Generator[Command, object, T]:
    """One attempt: wait for rate-limit budget, send, then parse or raise a knouds error."""
    ticket: Ticket | None = None
    try:
        while True:
            ticket, wait = ctx.pacer.acquire(ctx.endpoint.bucket, pace=ctx.pace)
            if ticket is not None:
                break
            error = ctx.pacing_error(wait)
            if error is not None:
                raise error
            logger.debug("Pacing: %s budget spent, waiting %.2f s", ctx.endpoint.bucket, wait)
            yield Sleep(wait)
        request = ctx.build_request()
        outcome = yield Send(request)
        if not isinstance(outcome, httpx.Response):
            assert isinstance(outcome, Exception)
            raise map_transport_error(outcome, request) from outcome
        now = ctx.clock()
        logger.debug("%s %s -> %d", request.method, request.url.path, outcome.status_code)
        rate_limit = RateLimit.from_headers(outcome.headers, now=now)
        ctx.pacer.release(ticket, rate_limit)
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
            ctx.pacer.release(ticket, None)


def _first_problem(exc: pydantic.ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


# -- parsers of successful bodies ------------------------------------------------------------------


def parse_run_result(body: object, rate_limit: RateLimit | None) -> RunResult:
    """A run's 200 body as a `RunResult`."""
    result = RunResult.model_validate(body)
    result._rate_limit = rate_limit
    return result


def parse_execution(body: object, rate_limit: RateLimit | None) -> Execution:
    """An async submission's or a poll's body as an `Execution`."""
    execution = Execution.model_validate(body)
    execution._rate_limit = rate_limit
    return execution


def parse_schema(body: object, rate_limit: RateLimit | None) -> WorkflowSchema:
    """A schema body as a `WorkflowSchema`."""
    return WorkflowSchema.model_validate(body)


def parse_identity(body: object, rate_limit: RateLimit | None) -> Identity:
    """A whoami body (``{"user": {...}}``) as an `Identity`."""
    user = body.get("user") if isinstance(body, dict) else None
    return Identity.model_validate(user)
