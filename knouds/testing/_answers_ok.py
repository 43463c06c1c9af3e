"""Successful answers: runs, executions, identities, schemas and workflows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx

from knouds.testing import _bodies
from knouds.testing._answers import (
    _UPDATED_AT,
    DEFAULT_EXECUTION_ID,
    DEFAULT_REQUEST_ID,
    RateLimitHeaders,
    _json,
)

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
