"""Responses as results or typed errors: decode bodies, map status and code, parse successes."""

from __future__ import annotations

import functools
import json
import math
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import TypeAdapter

from .._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    NotFoundError,
    RateLimitError,
    class_for,
)
from ..models import Execution, Identity, RunResult, Workflow, WorkflowSchema, WorkflowSummary
from ..models._ratelimit import RateLimit, parse_retry_after
from .redaction import mask, mask_json
from .requests import Endpoint, short

if TYPE_CHECKING:
    from .attempt import Parse

T = TypeVar("T")

__all__ = [
    "map_transport_error",
    "may_have_been_sent",
    "parse_execution",
    "parse_identity",
    "parse_run_result",
    "parse_schema",
    "parse_workflow",
    "parse_workflow_list",
    "raise_for_response",
    "redact",
    "workflow_echo",
]


@functools.cache
def _summaries() -> TypeAdapter[list[WorkflowSummary]]:
    # Built on first use, like the models' own validators.
    return TypeAdapter(list[WorkflowSummary])


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


def _describe_body(response: httpx.Response, secret: str | None = None) -> str:
    # Redact before cutting: a cut through the key would leave its first characters behind.
    text = redact(response.content[:4096].decode("utf-8", "replace"), secret).strip()
    reason = response.reason_phrase or ""
    head = f"Knouds answered {response.status_code} {reason}".rstrip()
    if not text:
        return f"{head} with an empty body"
    if text.startswith("<"):
        return f"{head} with an HTML page instead of JSON (a proxy or gateway in front of the API)"
    return f"{head} with a body that is not JSON: {short(text, 120)}"


def redact(value: T, secret: str | None) -> T:
    """``value`` with every form of ``secret`` (the API key, or its secret part alone) replaced
    by ``***``, in a string or in the strings of JSON-like nested dicts and lists."""
    return mask_json(value, secret)


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
        if endpoint.success_body == "array" and isinstance(body, list):
            return body
        if endpoint.success_body == "any" and not isinstance(body, dict):
            return body  # None when empty or not JSON
        if not decoded or not isinstance(body, dict):
            # Masked before the cut (a cut through the key would leave its first characters
            # behind) and after it (repr() may spell the key from text that did not hold it).
            problem = (
                _describe_body(response, api_key)
                if not decoded
                else f"Knouds answered {status} with JSON that is not an object: "
                f"{short(redact(body, api_key))}"
            )
            raise APIResponseValidationError(
                mask(problem, api_key), response=response, body=redact(body, api_key)
            )
        if body.get("success") is not False:
            return body
    body = redact(body, api_key)  # from here on the body only travels inside an error
    code, message = _code_and_message(body)
    if 200 <= status < 300 and code is None:  # a 2xx carrying "success": false and no code
        raise APIResponseValidationError(
            mask(
                f"Knouds answered {status} with success=false: {short(message or body, 200)}",
                api_key,
            ),
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
        message = _describe_body(response, api_key) if not decoded else f"Knouds answered {status}"
    cls = class_for(status, code)
    if status == 404 and code is None and cls is NotFoundError:
        cls = endpoint.not_found
    kwargs: dict[str, Any] = {
        "status_code": status,
        "code": code,
        "body": body if decoded else (_text_of(response, api_key) or None),
        "response": response,
        "rate_limit": rate_limit,
    }
    if issubclass(cls, RateLimitError):
        kwargs["retry_after"] = _server_wait(response, body, rate_limit, now)
    raise cls(mask(message, api_key), **kwargs)  # the Location, and what repr() spelt


def _text_of(response: httpx.Response, secret: str | None) -> str:
    """The first 2048 characters of a body that is not JSON, as text (undecodable bytes
    replaced), the key masked before the cut."""
    # A character takes up to 4 bytes: read enough for 2048 of them and a key across the cut.
    window = 4 * (2048 + len(secret or ""))
    return redact(response.content[:window].decode("utf-8", "replace"), secret)[:2048]


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


# The transport failures that prove the request never reached the server.
_NEVER_SENT = (
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ConnectError,
    httpx.UnsupportedProtocol,
)


def may_have_been_sent(error: Exception) -> bool:
    """Whether a request whose exchange raised ``error`` may have reached the server (the
    ``sent`` of `map_transport_error`'s answer)."""
    return not isinstance(error, _NEVER_SENT)


def map_transport_error(
    error: Exception, request: httpx.Request, secret: str | None = None
) -> APIConnectionError:
    """An httpx transport failure as a knouds error, noting whether the request may have been
    sent. Its text is the transport's: ``secret`` (the API key) is masked in it."""
    where = f"{request.method} {request.url.path}"
    text = mask(str(error), secret)
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
            f"for {where}: {text or type(error).__name__}",
            request=request,
            sent=False,
        )
    return APIConnectionError(
        f"The connection broke during {where} ({type(error).__name__}: {text}); the request may "
        "have been processed",
        request=request,
    )


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


def parse_workflow_list(body: object, rate_limit: RateLimit | None) -> list[WorkflowSummary]:
    """``GET /api/workflows``: a JSON array of summaries (also accepted inside ``workflows``)."""
    if isinstance(body, dict):
        body = body.get("workflows", body.get("data"))
    return _summaries().validate_python(body)


def parse_workflow(body: object, rate_limit: RateLimit | None) -> Workflow:
    """A whole workflow, bare or wrapped in ``{"workflow": {...}}``."""
    if isinstance(body, dict) and isinstance(body.get("workflow"), dict):
        body = body["workflow"]
    return Workflow.model_validate(body)


def workflow_echo(sent: dict[str, object], slug: str | None = None) -> Parse[Workflow]:
    """Read the undocumented answer to ``POST``/``PUT /api/workflows``.

    The answer is assumed to be the workflow, or part of it (at least its ``slug``, bare or in
    ``{"workflow": {...}}``). What it leaves out is filled from what was sent, so a short answer
    such as ``{"slug": "my-flow"}`` still gives the whole workflow. An answer without a slug is
    accepted for ``PUT`` (the slug never changes) and refused for ``POST``.
    """

    def parse(body: object, rate_limit: RateLimit | None) -> Workflow:
        answer = body.get("workflow", body) if isinstance(body, dict) else None
        known = answer if isinstance(answer, dict) else {}
        merged = {**sent, **{k: v for k, v in known.items() if k not in ("success",)}}
        if slug is not None:
            merged.setdefault("slug", slug)
        return Workflow.model_validate(merged)

    return parse
