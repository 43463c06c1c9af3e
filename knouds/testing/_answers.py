"""Plumbing of the response builders (`knouds.testing.responses`): headers, JSON bodies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import httpx

from knouds.testing import _bodies

if TYPE_CHECKING:
    from typing import TypeAlias


class RateLimitLike(Protocol):
    """Anything with ``limit``, ``remaining`` and ``reset``, such as ``knouds.RateLimit``."""

    @property
    def limit(self) -> int:
        """Requests allowed per window."""

    @property
    def remaining(self) -> int:
        """Requests left in the window."""

    @property
    def reset(self) -> float:
        """When the window refills, in Unix epoch seconds."""


RateLimitHeaders: TypeAlias = RateLimitLike | tuple[int, int, float]
"""What ``rate_limit=`` takes: a ``knouds.RateLimit`` or ``(limit, remaining, reset)``."""

DEFAULT_EXECUTION_ID = "3f0c9a52-7d1e-4b8a-9c61-2e5f8a7b4d10"
"""The execution id `submit` and `execution` use unless given one."""

DEFAULT_REQUEST_ID = "req_5c1d8e2f9a7b4c60"
"""The provider request id `submit` and `execution` use unless given one."""

_UPDATED_AT = "2026-05-01T12:00:00.000Z"


# -- plumbing --------------------------------------------------------------------------------------


def _header_pairs(
    rate_limit: RateLimitHeaders | None,
    own: Sequence[tuple[str, str]],
    headers: Mapping[str, str] | None,
) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if rate_limit is not None:
        if isinstance(rate_limit, tuple):
            limit, remaining, reset = rate_limit
        else:
            limit, remaining, reset = rate_limit.limit, rate_limit.remaining, rate_limit.reset
        pairs += _bodies.rate_limit_headers(limit, remaining, reset)
    pairs += own
    if headers:
        replaced = {name.lower() for name in headers}
        pairs = [(name, value) for name, value in pairs if name.lower() not in replaced]
        pairs += headers.items()
    return pairs


def json_response(
    status: int,
    body: object,
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Any JSON answer: for bodies no other builder makes (an unknown field, a new shape).

    Args:
        status: HTTP status code.
        body: The JSON body.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.

    Returns:
        The response, encoded as the API encodes JSON.
    """
    return _json(status, body, rate_limit, headers)


def _json(
    status: int,
    body: object,
    rate_limit: RateLimitHeaders | None,
    headers: Mapping[str, str] | None,
    own: Sequence[tuple[str, str]] = (),
) -> httpx.Response:
    pairs = [("Content-Type", _bodies.JSON_TYPE), *_header_pairs(rate_limit, own, headers)]
    return httpx.Response(status, headers=pairs, content=_bodies.encode(body))


def _error(
    problem: _bodies.ApiError,
    rate_limit: RateLimitHeaders | None,
    headers: Mapping[str, str] | None,
    own: Sequence[tuple[str, str]] = (),
) -> httpx.Response:
    return _json(problem.status, problem.body(), rate_limit, headers, own)
