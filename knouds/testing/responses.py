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

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import httpx

from knouds.testing import _bodies

if TYPE_CHECKING:
    from typing import TypeAlias

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


# -- successful answers ----------------------------------------------------------------------------


def run(
    result: object = None,
    *,
    images: Sequence[str] | None = None,
    videos: Sequence[str] | None = None,
    audios: Sequence[str] | None = None,
    text: str | Sequence[str] | None = None,
    cost: float = 1,
    ms: float = 1000,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """200 from a synchronous run: ``{"success": true, "result", "cost", "ms"}``.

    Args:
        result: The whole ``result`` (any JSON). When ``None``, it is built from the outputs
            below: ``{"images": [...], "videos": [...], "audios": [...], "text": ...}`` with the
            kinds you give (an empty object when none).
        images: Image URLs.
        videos: Video URLs.
        audios: Audio URLs.
        text: Text output, one string or several.
        cost: Credits charged (``0`` when a trial grant paid).
        ms: Server-side execution time in milliseconds.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.

    Raises:
        ValueError: If both ``result`` and outputs are given.
    """
    outputs = _bodies.media_result(images=images, videos=videos, audios=audios, text=text)
    if result is not None and outputs:
        raise ValueError("give either result= or images=/videos=/audios=/text=, not both")
    return _json(
        200, _bodies.run_body(outputs if result is None else result, cost, ms), rate_limit, headers
    )


def submit(
    execution_id: str = DEFAULT_EXECUTION_ID,
    *,
    request_id: str = DEFAULT_REQUEST_ID,
    webhook_url: str | None = None,
    status_code: int = 202,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """The answer to ``?async=true``: the execution id, ``status: processing`` and the poll URL.

    Args:
        execution_id: The execution's UUID.
        request_id: The provider-side request id.
        webhook_url: The webhook configured for the key, if any (``webhookDelivery``).
        status_code: 202 as the emulator answers; the docs leave 200 or 202 open.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    body = _bodies.submit_body(execution_id, request_id, webhook_url)
    return _json(status_code, body, rate_limit, headers)


def execution(
    execution_id: str = DEFAULT_EXECUTION_ID,
    status: str = "processing",
    *,
    result: object = None,
    images: Sequence[str] | None = None,
    videos: Sequence[str] | None = None,
    audios: Sequence[str] | None = None,
    text: str | Sequence[str] | None = None,
    cost: float | None = None,
    ms: float | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    request_id: str | None = DEFAULT_REQUEST_ID,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """200 from ``GET /api/executions/{id}`` (or a cancel): an execution in any status.

    What each status carries unless you say otherwise: ``completed`` a ``result`` (built from
    the outputs as in `run`), ``cost`` 1 and ``ms`` 1000; ``failed`` an ``error`` (code
    ``EXECUTION_FAILED``), ``cost`` 0 and ``ms``; ``cancelled`` ``cost`` 0 (and a ``result`` if you
    give one); ``processing`` and ``cancel_requested`` nothing more.

    Args:
        execution_id: The execution's UUID.
        status: ``processing``, ``completed``, ``failed``, ``cancel_requested`` or ``cancelled``.
        result: The whole ``result``; when ``None``, built from the outputs.
        images: Image URLs of the result.
        videos: Video URLs of the result.
        audios: Audio URLs of the result.
        text: Text output of the result.
        cost: Credits charged.
        ms: Execution time in milliseconds.
        error_code: The failure's code (``failed``).
        error_message: The failure's message (``failed``).
        request_id: The provider-side request id; ``None`` leaves it out.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    outputs = _bodies.media_result(images=images, videos=videos, audios=audios, text=text)
    chosen = outputs if result is None and outputs else result
    error_body: dict[str, str] | None = None
    if status == "completed":
        chosen = outputs if chosen is None else chosen
        cost = 1 if cost is None else cost
        ms = 1000 if ms is None else ms
    elif status == "failed":
        error_body = {
            "code": error_code or "EXECUTION_FAILED",
            "message": error_message or "The provider failed to run the model.",
        }
        cost = 0 if cost is None else cost
        ms = 1000 if ms is None else ms
    elif status == "cancelled":
        cost = 0 if cost is None else cost
    body = _bodies.execution_body(
        execution_id,
        status,
        request_id=request_id,
        result=chosen,
        error=error_body,
        cost=cost,
        ms=ms,
    )
    return _json(200, body, rate_limit, headers)


def whoami(
    *,
    user_id: str = "usr_0f3a9c2b7d",
    email: str = "dev@example.com",
    role: str = "user",
    tier: str = "pro",
    approved: bool = True,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """200 from ``GET /api/whoami``: ``{"user": {id, email, role, tier, approved}}``.

    Args:
        user_id: The user's id.
        email: The user's email.
        role: ``user`` or ``admin``.
        tier: ``free``, ``pro``, ``business``, ``enterprise`` or a custom id.
        approved: Whether the account may run workflows.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    body = _bodies.identity_body(user_id, email, role, tier, approved)
    return _json(200, body, rate_limit, headers)


def schema(
    slug: str = "my-thumbnail-pipeline",
    *,
    fields: Sequence[Mapping[str, object]] | None = None,
    values: Mapping[str, object] | None = None,
    name: str | None = None,
    description: str = "",
    estimated_credit_cost: float | None = None,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """200 from ``GET /api/workflows/{slug}/schema`` (or ``public-schema``).

    Args:
        slug: The workflow's slug.
        fields: Input fields, each with ``name`` and usually ``type``, ``required``,
            ``options``, ``default``. Default: one required text field ``prompt``.
        values: Saved value per field; default: each field's ``default``.
        name: Display name (default: the slug).
        description: Description.
        estimated_credit_cost: The credit estimate, or ``None``.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    chosen = (
        fields
        if fields is not None
        else [{"name": "prompt", "type": "text", "label": "Prompt", "required": True}]
    )
    body = _bodies.schema_body(
        slug,
        chosen,
        name=name or slug,
        description=description,
        estimated_credit_cost=estimated_credit_cost,
        values=values,
    )
    return _json(200, body, rate_limit, headers)


def workflow_list(
    workflows: Sequence[str | Mapping[str, object]] = ("my-thumbnail-pipeline",),
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """200 from ``GET /api/workflows``: a JSON array of workflow summaries.

    Args:
        workflows: One entry per workflow: a slug (every other field gets a plausible value),
            or a mapping of API fields (``slug`` required; ``tags``, ``updatedAt``,
            ``estimatedCreditCost``, ``folderId``, ``isTemplate``, ``createdBy``, ... override
            the defaults, unknown fields are sent as given).
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.

    Raises:
        ValueError: If a mapping has no ``slug``.
    """
    items: list[dict[str, object]] = []
    for entry in workflows:
        given: Mapping[str, object] = {"slug": entry} if isinstance(entry, str) else entry
        slug = given.get("slug")
        if not isinstance(slug, str):
            raise ValueError("each workflow summary needs a slug")
        summary = _bodies.workflow_summary_body(
            slug, name=_title(slug), updated_at=_UPDATED_AT, created_by="usr_0f3a9c2b7d"
        )
        summary.update(given)
        items.append(summary)
    return _json(200, items, rate_limit, headers)


def workflow(
    slug: str = "my-pipeline",
    *,
    name: str | None = None,
    description: str = "",
    tags: Sequence[str] = (),
    nodes: Sequence[Mapping[str, object]] | None = None,
    edges: Sequence[Mapping[str, object]] | None = None,
    viewport: Mapping[str, object] | None = None,
    public_playground: bool = False,
    status_code: int = 200,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """A full workflow, as ``GET /api/workflows/{slug}`` answers (the shape ``POST`` accepts).

    Also the answer to ``POST`` (with ``status_code=201``) and ``PUT``: their bodies are not
    documented; the SDK and the emulator take them to be the workflow.

    Args:
        slug: The workflow's slug.
        name: Display name (default: from the slug).
        description: Description.
        tags: Tags.
        nodes: Canvas nodes (``id``, ``type``, ``position``, ``data``). Default: a prompt input
            feeding a ``gpt-image-2`` node.
        edges: Edges (``id``, ``source``, ``target``, ``sourceHandle``, ``targetHandle``).
            Default: the one edge between the default nodes.
        viewport: ``{"x", "y", "zoom"}``.
        public_playground: ``publicPlayground``: the schema is readable without a key.
        status_code: 200; pass 201 to answer a create that way.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    default_nodes = nodes is None
    body = _bodies.workflow_body(
        slug,
        name=name or _title(slug),
        description=description,
        tags=tags,
        nodes=_DEFAULT_NODES if nodes is None else nodes,
        edges=(_DEFAULT_EDGES if default_nodes else ()) if edges is None else edges,
        viewport=viewport,
        public_playground=public_playground,
    )
    return _json(status_code, body, rate_limit, headers)


def workflow_deleted(
    slug: str = "my-pipeline",
    *,
    rate_limit: RateLimitHeaders | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """200 ``{"success": true, "slug": ...}`` to ``DELETE /api/workflows/{slug}``.

    The docs leave this body open; it is the emulator's answer (the SDK ignores the body).

    Args:
        slug: The deleted workflow's slug.
        rate_limit: ``X-RateLimit-*`` headers to send, if any.
        headers: Extra headers.
    """
    return _json(200, _bodies.workflow_deleted_body(slug), rate_limit, headers)


_DEFAULT_NODES: tuple[dict[str, object], ...] = (
    {
        "id": "input-1",
        "type": "requestInput",
        "position": {"x": 0, "y": 0},
        "data": {"name": "prompt", "type": "text", "required": True},
    },
    {
        "id": "model-1",
        "type": "model",
        "position": {"x": 320, "y": 0},
        "data": {"model": "gpt-image-2"},
    },
)
_DEFAULT_EDGES: tuple[dict[str, object], ...] = (
    {
        "id": "edge-1",
        "source": "input-1",
        "target": "model-1",
        "sourceHandle": "prompt",
        "targetHandle": "prompt",
    },
)


def _title(slug: str) -> str:
    return slug.replace("-", " ").capitalize()


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
