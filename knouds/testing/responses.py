"""Knouds answers as ``httpx.Response`` objects, for respx routes and ``httpx.MockTransport``.

Each builder returns exactly what Knouds answers in one documented case: the status, the JSON
body with its context fields, and the headers (``X-RateLimit-*`` when you pass ``rate_limit=``,
``Retry-After`` on a 429). The local emulator builds its bodies from the same code, so a unit test
mocked with these builders and an end-to-end test against the emulator see the same answers.

Importing this module loads httpx and nothing of the emulator's server.

Example:
    >>> import knouds, respx
    >>> from knouds.testing import responses
    >>> with respx.mock(using="httpx") as mock:  # doctest: +SKIP
    ...     mock.post("https://knouds.ai/api/models/gpt-image-2/run").mock(
    ...         return_value=responses.run(images=["https://cdn.test/a.png"], cost=4)
    ...     )
    ...     result = knouds.Client(api_key="knouds_live_test").models.run("gpt-image-2", {})
    >>> result.cost  # doctest: +SKIP
    4

Every builder takes ``headers=`` (extra headers; a name given there replaces the builder's own)
and, except the proxy answers, ``rate_limit=``: a ``knouds.RateLimit`` or a
``(limit, remaining, reset)`` tuple, ``reset`` in Unix epoch seconds. No ``Date`` header is sent
unless you add one, so the client does not correct for clock skew.
"""

from __future__ import annotations

from knouds.testing._answers import (
    DEFAULT_EXECUTION_ID,
    DEFAULT_REQUEST_ID,
    RateLimitHeaders,
    RateLimitLike,
    json_response,
)
from knouds.testing._answers_4xx import (
    async_not_supported,
    error,
    grant_exhausted,
    insufficient_credits,
    invalid_body,
    invalid_capability,
    invalid_inputs,
    invalid_scope,
    invalid_slug,
    legacy_key_retired,
    unauthorized,
)
from knouds.testing._answers_errors import (
    api_key_access_denied,
    capability_above_ceiling,
    capability_denied,
    empty,
    execution_failed,
    execution_not_found,
    model_not_found,
    model_tier_required,
    proxy_error,
    rate_limited,
    scope_denied,
    workflow_not_found,
    workflow_not_owned,
)
from knouds.testing._answers_ok import (
    execution,
    run,
    schema,
    submit,
    whoami,
    workflow,
    workflow_deleted,
    workflow_list,
)

__all__ = [
    "DEFAULT_EXECUTION_ID",
    "DEFAULT_REQUEST_ID",
    "RateLimitHeaders",
    "RateLimitLike",
    "api_key_access_denied",
    "async_not_supported",
    "capability_above_ceiling",
    "capability_denied",
    "empty",
    "error",
    "execution",
    "execution_failed",
    "execution_not_found",
    "grant_exhausted",
    "insufficient_credits",
    "invalid_body",
    "invalid_capability",
    "invalid_inputs",
    "invalid_scope",
    "invalid_slug",
    "json_response",
    "legacy_key_retired",
    "model_not_found",
    "model_tier_required",
    "proxy_error",
    "rate_limited",
    "run",
    "schema",
    "scope_denied",
    "submit",
    "unauthorized",
    "whoami",
    "workflow",
    "workflow_deleted",
    "workflow_list",
    "workflow_not_found",
    "workflow_not_owned",
]
