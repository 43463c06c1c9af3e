"""Error answers: permissions, not found, rate limits and server errors."""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from knouds.testing import _bodies
from knouds.testing._answers import (
    RateLimitHeaders,
    _error,
    _header_pairs,
)


def scope_denied(
    required: str = "admin",
    actual: str = "free",
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """403 ``SCOPE_DENIED`` (older keys), with ``required`` and ``actual``.

    Args:
        required: The scope the endpoint needs.
        actual: The key's scope.
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.scope_denied(required, actual, message), rate_limit, headers)


def capability_denied(
    required: str = "model:run",
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """403 ``CAPABILITY_DENIED``, with ``required``.

    Args:
        required: The capability the key lacks.
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.capability_denied(required, message), rate_limit, headers)


def model_tier_required(
    model: str,
    tier: str = "enterprise",
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """403 ``MODEL_TIER_REQUIRED``: the model needs a higher plan (``requiredTier``).

    Args:
        model: The model's name.
        tier: The plan it needs.
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.model_tier_required(model, tier, message), rate_limit, headers)


def capability_above_ceiling(
    attempted: str,
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """403 ``CAPABILITY_ABOVE_CEILING`` at key creation, with ``attempted``.

    Args:
        attempted: The capability above the plan's ceiling.
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.capability_above_ceiling(attempted, message), rate_limit, headers)


def api_key_access_denied(
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """403 ``API_KEY_ACCESS_DENIED``: the Free tier cannot create keys.

    Args:
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.api_key_access_denied(message), rate_limit, headers)


def model_not_found(
    model: str,
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """404 ``MODEL_NOT_FOUND``: no enabled registry model has that name.

    Args:
        model: The name asked for.
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.model_not_found(model, message), rate_limit, headers)


def workflow_not_found(
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """404 on a workflow route: a message and no code (the SDK raises `WorkflowNotFoundError`).

    Args:
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.workflow_not_found(message), rate_limit, headers)


def workflow_not_owned(
    slug: str,
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """403 without a code, with ``slug``: a write to a workflow the caller did not create.

    The docs say workflow writes need ownership, not how a refusal reads; this is the
    emulator's answer (the SDK raises `PermissionDeniedError`).

    Args:
        slug: The workflow's slug.
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.workflow_not_owned(slug, message), rate_limit, headers)


def execution_not_found(
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """404 ``EXECUTION_NOT_FOUND``: no execution with that id is visible to the key.

    Args:
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.execution_not_found(message), rate_limit, headers)


def rate_limited(
    retry_after: float = 1,
    *,
    limit: int = 100,
    tier: str | None = "pro",
    reset: float | None = None,
    now: float | None = None,
    body_details: bool = True,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """429 ``RATE_LIMIT_EXCEEDED`` with ``Retry-After`` and the three ``X-RateLimit-*`` headers.

    Args:
        retry_after: Seconds to wait (``Retry-After`` and the body's ``retryAfter``).
        limit: Requests per window (``X-RateLimit-Limit`` and the body's ``limit``).
        tier: The plan tier in the body; ``None`` leaves it out.
        reset: ``X-RateLimit-Reset`` in Unix epoch seconds; default ``now + retry_after``.
        now: The current time for the default ``reset``; default ``time.time()``. Pass your
            test's clock when the client runs on an injected one.
        body_details: Send the newer docs' ``tier``, ``limit`` and ``retryAfter`` body fields;
            ``False`` gives the older ``{"error", "code"}`` body.
        headers: Extra headers (for instance ``{"Retry-After": <an HTTP-date>}``).
    """
    when = (time.time() if now is None else now) + retry_after if reset is None else reset
    own = [_bodies.retry_after_header(retry_after)]
    problem = (
        _bodies.rate_limit_exceeded(retry_after, limit, tier)
        if body_details
        else _bodies.rate_limit_exceeded(retry_after)
    )
    return _error(problem, (limit, 0, when), headers, own)


def execution_failed(
    message: str = "The provider failed to run the model.",
    *,
    provider_code: str | None = None,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """500 ``EXECUTION_FAILED``: the upstream provider call failed.

    Args:
        message: What failed.
        provider_code: The provider's own code (the ``providerCode`` field), if sent.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.execution_failed(message, provider_code), rate_limit, headers)


def proxy_error(status: int = 502, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
    """An HTML error page, as a reverse proxy in front of the API answers (502, 503, 504).

    Args:
        status: HTTP status code.
        headers: Extra headers.
    """
    pairs = _header_pairs(None, [("Content-Type", "text/html")], headers)
    return httpx.Response(status, headers=pairs, content=_bodies.proxy_page(status))


def empty(status: int = 503, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
    """An answer with an empty body, as a proxy or load balancer may send.

    Args:
        status: HTTP status code.
        headers: Extra headers.
    """
    return httpx.Response(status, headers=_header_pairs(None, [], headers), content=b"")
