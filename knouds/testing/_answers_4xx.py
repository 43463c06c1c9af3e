"""Error answers: bad requests, authentication and payment."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from knouds.testing import _bodies
from knouds.testing._answers import (
    RateLimitHeaders,
    _error,
)

# -- errors ----------------------------------------------------------------------------------------


def error(
    status: int,
    message: str,
    code: str | None = None,
    *,
    context: Mapping[str, object] | None = None,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Any error in the API's shape ``{"error": message, "code": code, **context}``.

    For codes no other builder covers, such as one the API adds later.

    Args:
        status: HTTP status code.
        message: The body's ``error``.
        code: The body's ``code``; ``None`` leaves it out.
        context: Extra body fields.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    problem = _bodies.ApiError(status, message, code, dict(context or {}))
    return _error(problem, rate_limit, headers)


def invalid_inputs(
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """400 ``INVALID_INPUTS``: ``inputs`` missing or not an object, or an invalid value.

    Args:
        message: The message, e.g. ``"Missing required input: prompt"``.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.invalid_inputs(message), rate_limit, headers)


def invalid_slug(
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """400 ``INVALID_SLUG``: a slug or model name with characters outside ``[a-z0-9-]``.

    Args:
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.invalid_slug(message), rate_limit, headers)


def invalid_body(
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """400 ``INVALID_BODY``: the body is not JSON or misses required fields.

    Args:
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.invalid_body(message), rate_limit, headers)


def async_not_supported(
    model: str,
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """400 ``ASYNC_NOT_SUPPORTED``: ``?async=true`` on a model without async support.

    Args:
        model: The model's name.
        message: The message (default names the model).
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.async_not_supported(model, message), rate_limit, headers)


def invalid_scope(
    scope: str,
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """400 ``INVALID_SCOPE``: an unknown scope at key creation (older keys).

    Args:
        scope: The refused scope.
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.invalid_scope(scope, message), rate_limit, headers)


def invalid_capability(
    capability: str,
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """400 ``INVALID_CAPABILITY``: a malformed capability at key creation.

    Args:
        capability: The refused capability.
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.invalid_capability(capability, message), rate_limit, headers)


def unauthorized(
    message: str | None = None, *, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """401 ``{"error": "Unauthorized"}`` with no code: the key is missing, malformed or revoked.

    Args:
        message: The message.
        headers: Extra headers.
    """
    return _error(_bodies.unauthorized(message), None, headers)


def legacy_key_retired(
    message: str | None = None, *, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """401 ``LEGACY_KEY_RETIRED``: the key predates capabilities; create a new one.

    Args:
        message: The message.
        headers: Extra headers.
    """
    return _error(_bodies.legacy_key_retired(message), None, headers)


def insufficient_credits(
    required: float | None = None,
    balance: float | None = None,
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """402 ``INSUFFICIENT_CREDITS``: the balance is too low for the run.

    Args:
        required: The run's price (the ``required`` field), if sent.
        balance: The balance (the ``balance`` field), if sent.
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    problem = _bodies.insufficient_credits(required, balance, message)
    return _error(problem, rate_limit, headers)


def grant_exhausted(
    model: str,
    message: str | None = None,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """402 ``grant_exhausted`` (lowercase, as the API sends it): the trial grant is used up.

    Args:
        model: The model (or workflow) whose grant is spent.
        message: The message.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _error(_bodies.grant_exhausted(model, message), rate_limit, headers)
