"""Every documented Knouds answer as plain data: bodies, error bodies and headers.

The emulator and the public ``knouds.testing.responses`` builders both take their bodies from
here, so a mocked response and an emulated one cannot drift apart. Standard library only: no
httpx, no server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from knouds.testing._clock import format_seconds

Headers = list[tuple[str, str]]
"""Header pairs in order."""

JSON_TYPE = "application/json"
"""The ``Content-Type`` of every API answer."""

PROXY_PAGE = (
    b"<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
"""The HTML page a reverse proxy in front of the API answers with (``{status}`` filled in)."""

TRUNCATED_RUN = json.dumps(
    {"success": True, "result": {"images": ["https://example.invalid/a.png"]}, "cost": 4}
).encode()
"""A plausible run body; the broken-body fault sends its first half."""


def encode(payload: object) -> bytes:
    """Encode a JSON body the way the API does (compact)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def proxy_page(status: int) -> bytes:
    """The HTML error page of a reverse proxy for ``status``."""
    return PROXY_PAGE.replace(b"{status}", str(status).encode())


def rate_limit_headers(limit: int, remaining: int, reset: float) -> Headers:
    """The three ``X-RateLimit-*`` headers (``reset`` in Unix epoch seconds)."""
    return [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", str(remaining)),
        ("X-RateLimit-Reset", format_seconds(reset)),
    ]


def retry_after_header(seconds: float) -> tuple[str, str]:
    """The ``Retry-After`` header, in seconds (whole when possible)."""
    return ("Retry-After", format_seconds(seconds))


# -- errors ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiError:
    """A documented error answer.

    Attributes:
        status: HTTP status code.
        message: The body's ``error``.
        code: The body's ``code``; ``None`` omits it (a plain 401, the workflow 404).
        extra: The body's context fields (``required``, ``retryAfter``, ...).
    """

    status: int
    message: str
    code: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        """The JSON body: ``{"error": message, "code": code, **extra}``."""
        payload: dict[str, object] = {"error": self.message}
        if self.code is not None:
            payload["code"] = self.code
        payload.update(self.extra)
        return payload


def invalid_inputs(message: str | None = None) -> ApiError:
    """400 ``INVALID_INPUTS``: ``inputs`` missing, not an object, or a bad value."""
    text = message or "'inputs' is required and must be a JSON object."
    return ApiError(400, text, "INVALID_INPUTS")


def invalid_slug(message: str | None = None) -> ApiError:
    """400 ``INVALID_SLUG``: a slug or model name outside ``[a-z0-9-]``."""
    text = message or "Slugs may contain only a-z, 0-9 and single hyphens."
    return ApiError(400, text, "INVALID_SLUG")


def invalid_body(message: str | None = None) -> ApiError:
    """400 ``INVALID_BODY``: the body is not JSON or misses required fields."""
    return ApiError(400, message or "The request body must be a JSON object.", "INVALID_BODY")


def async_not_supported(model: str, message: str | None = None) -> ApiError:
    """400 ``ASYNC_NOT_SUPPORTED``: ``?async=true`` on a model without async support."""
    text = message or f"{model} does not support async execution."
    return ApiError(400, text, "ASYNC_NOT_SUPPORTED")


def invalid_scope(scope: str, message: str | None = None) -> ApiError:
    """400 ``INVALID_SCOPE``: an unknown scope at key creation (older keys)."""
    text = message or f"Unknown scope {scope!r}: use free, deployment or admin."
    return ApiError(400, text, "INVALID_SCOPE")


def invalid_capability(capability: str, message: str | None = None) -> ApiError:
    """400 ``INVALID_CAPABILITY``: a malformed capability at key creation."""
    text = message or f"Malformed capability {capability!r}."
    return ApiError(400, text, "INVALID_CAPABILITY")


def unauthorized(message: str | None = None) -> ApiError:
    """401 without a code: the key is missing, malformed or revoked."""
    return ApiError(401, message or "Unauthorized")


LEGACY_KEY_MESSAGE = (
    "API key retired by Phase 11 migration. Regenerate at https://knouds.ai/app/api/keys"
)
"""The documented message of ``401 LEGACY_KEY_RETIRED``."""


def legacy_key_retired(message: str | None = None) -> ApiError:
    """401 ``LEGACY_KEY_RETIRED``: the key predates capabilities."""
    return ApiError(401, message or LEGACY_KEY_MESSAGE, "LEGACY_KEY_RETIRED")


def insufficient_credits(
    required: float | None = None, balance: float | None = None, message: str | None = None
) -> ApiError:
    """402 ``INSUFFICIENT_CREDITS``, with ``required`` and ``balance`` when given."""
    extra = {
        name: value
        for name, value in (("required", required), ("balance", balance))
        if value is not None
    }
    return ApiError(402, message or "Insufficient credits.", "INSUFFICIENT_CREDITS", extra)


def grant_exhausted(model: str, message: str | None = None) -> ApiError:
    """402 ``grant_exhausted``: the trial grant for this model is used up."""
    text = message or f"Your trial grant for {model} is used up; upgrade to continue."
    return ApiError(402, text, "grant_exhausted")


def scope_denied(required: str, actual: str, message: str | None = None) -> ApiError:
    """403 ``SCOPE_DENIED`` (older keys), with ``required`` and ``actual``."""
    text = message or f"This endpoint requires an API key with the {required} scope."
    return ApiError(403, text, "SCOPE_DENIED", {"required": required, "actual": actual})


def capability_denied(required: str, message: str | None = None) -> ApiError:
    """403 ``CAPABILITY_DENIED``, with ``required``."""
    text = message or f"This API key lacks the {required} capability."
    return ApiError(403, text, "CAPABILITY_DENIED", {"required": required})


def model_tier_required(model: str, tier: str, message: str | None = None) -> ApiError:
    """403 ``MODEL_TIER_REQUIRED``, with ``requiredTier``."""
    text = message or f"{model} requires the {tier} plan."
    return ApiError(403, text, "MODEL_TIER_REQUIRED", {"requiredTier": tier})


def capability_above_ceiling(attempted: str, message: str | None = None) -> ApiError:
    """403 ``CAPABILITY_ABOVE_CEILING`` at key creation, with ``attempted``."""
    text = message or f"Your plan does not allow keys with the {attempted} capability."
    return ApiError(403, text, "CAPABILITY_ABOVE_CEILING", {"attempted": attempted})


def api_key_access_denied(message: str | None = None) -> ApiError:
    """403 ``API_KEY_ACCESS_DENIED``: the Free tier cannot create keys."""
    text = message or "The Free tier cannot create API keys; upgrade to create one."
    return ApiError(403, text, "API_KEY_ACCESS_DENIED")


def model_not_found(model: str, message: str | None = None) -> ApiError:
    """404 ``MODEL_NOT_FOUND``."""
    return ApiError(404, message or f"Model not found: {model}", "MODEL_NOT_FOUND")


def workflow_not_found(message: str | None = None) -> ApiError:
    """404 on a workflow route: a message and no code."""
    return ApiError(404, message or "Workflow not found")


def workflow_not_owned(slug: str, message: str | None = None) -> ApiError:
    """403 without a code, with ``slug``: a workflow write by someone other than its creator.

    The docs say writes need ownership but not how a refusal reads; this is the emulator's.
    """
    text = message or "You can only modify workflows you created."
    return ApiError(403, text, None, {"slug": slug})


def execution_not_found(message: str | None = None) -> ApiError:
    """404 ``EXECUTION_NOT_FOUND`` on an execution route."""
    return ApiError(404, message or "Execution not found", "EXECUTION_NOT_FOUND")


def rate_limit_exceeded(
    retry_after: float, limit: int | None = None, tier: str | None = None
) -> ApiError:
    """429 ``RATE_LIMIT_EXCEEDED``; the newer docs' ``tier``, ``limit`` and ``retryAfter`` are
    added when ``limit`` or ``tier`` is given."""
    extra: dict[str, object] = {}
    if tier is not None or limit is not None:
        extra = {"tier": tier, "limit": limit, "retryAfter": retry_after}
        extra = {name: value for name, value in extra.items() if value is not None}
    return ApiError(429, "Rate limit exceeded", "RATE_LIMIT_EXCEEDED", extra)


def execution_failed(message: str, provider_code: str | None = None) -> ApiError:
    """500 ``EXECUTION_FAILED``: the provider call failed (``providerCode`` when given)."""
    extra = {} if provider_code is None else {"providerCode": provider_code}
    return ApiError(500, message, "EXECUTION_FAILED", extra)


# -- successful bodies -----------------------------------------------------------------------------


def media_result(
    *,
    images: Sequence[object] | None = None,
    videos: Sequence[object] | None = None,
    audios: Sequence[object] | None = None,
    text: str | Sequence[str] | None = None,
) -> dict[str, object]:
    """A run's ``result`` object with the outputs given (absent kinds are left out)."""
    result: dict[str, object] = {}
    for name, items in (("images", images), ("videos", videos), ("audios", audios)):
        if items is not None:
            result[name] = list(items)
    if text is not None:
        result["text"] = text if isinstance(text, str) else list(text)
    return result


def run_body(result: object, cost: float, ms: float) -> dict[str, object]:
    """The 200 body of a synchronous run."""
    return {"success": True, "result": result, "cost": cost, "ms": ms}


def submit_body(
    execution_id: str, request_id: str, webhook_url: str | None = None
) -> dict[str, object]:
    """The body of an async submission (``?async=true``); a webhook URL means one is configured."""
    delivery: dict[str, object] = {"configured": webhook_url is not None}
    if webhook_url is not None:
        delivery["url"] = webhook_url
    return {
        "_async": True,
        "executionId": execution_id,
        "requestId": request_id,
        "status": "processing",
        "webhookDelivery": delivery,
        "pollUrl": f"/api/executions/{execution_id}",
    }


def execution_body(
    execution_id: str,
    status: str,
    *,
    request_id: str | None = None,
    result: object = None,
    error: Mapping[str, str] | None = None,
    cost: float | None = None,
    ms: float | None = None,
) -> dict[str, object]:
    """The poll body of an execution; fields that are ``None`` are left out."""
    out: dict[str, object] = {"executionId": execution_id, "status": status}
    fields = (
        ("requestId", request_id),
        ("result", result),
        ("error", None if error is None else dict(error)),
        ("cost", cost),
        ("ms", ms),
    )
    out.update((name, value) for name, value in fields if value is not None)
    return out


def identity_body(
    user_id: str, email: str, role: str, tier: str, approved: bool
) -> dict[str, object]:
    """The ``whoami`` body."""
    user = {"id": user_id, "email": email, "role": role, "tier": tier, "approved": approved}
    return {"user": user}


def schema_body(
    slug: str,
    fields: Sequence[Mapping[str, object]],
    *,
    name: str,
    description: str,
    estimated_credit_cost: float | None,
    values: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The schema body; ``values`` default to each field's ``default``."""
    saved = (
        dict(values) if values is not None else {str(f["name"]): f.get("default") for f in fields}
    )
    return {
        "slug": slug,
        "name": name,
        "description": description,
        "fields": [dict(f) for f in fields],
        "values": saved,
        "estimatedCreditCost": estimated_credit_cost,
    }


def workflow_summary_body(
    slug: str,
    *,
    name: str,
    description: str = "",
    tags: Sequence[str] = (),
    updated_at: str,
    estimated_credit_cost: float | None = None,
    folder_id: str | None = None,
    is_template: bool = False,
    hidden: bool = False,
    archived: bool = False,
    cover: Mapping[str, object] | None = None,
    thumbnail: str | None = None,
    created_by: str | None = None,
) -> dict[str, object]:
    """One element of the workflow list (``GET /api/workflows``), newer fields included."""
    return {
        "slug": slug,
        "name": name,
        "description": description,
        "tags": list(tags),
        "updatedAt": updated_at,
        "estimatedCreditCost": estimated_credit_cost,
        "folderId": folder_id,
        "isTemplate": is_template,
        "hidden": hidden,
        "archived": archived,
        "cover": None if cover is None else dict(cover),
        "thumbnail": thumbnail,
        "createdBy": created_by,
    }


def workflow_body(
    slug: str,
    *,
    name: str,
    description: str = "",
    tags: Sequence[str] = (),
    nodes: Sequence[Mapping[str, object]] = (),
    edges: Sequence[Mapping[str, object]] = (),
    viewport: Mapping[str, object] | None = None,
    public_playground: bool = False,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """A full workflow (``GET /api/workflows/{slug}``), in the shape ``POST`` accepts.

    ``extra`` holds fields this shape does not name; the named fields win over them.
    """
    return {
        **(extra or {}),
        "slug": slug,
        "name": name,
        "description": description,
        "tags": list(tags),
        "nodes": [dict(n) for n in nodes],
        "edges": [dict(e) for e in edges],
        "viewport": dict(viewport) if viewport is not None else {"x": 0, "y": 0, "zoom": 1},
        "publicPlayground": public_playground,
    }


def workflow_deleted_body(slug: str) -> dict[str, object]:
    """The answer to ``DELETE /api/workflows/{slug}`` (undocumented; the emulator's)."""
    return {"success": True, "slug": slug}
