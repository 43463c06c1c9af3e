"""The public surface: a pinned ``__all__`` and sync/async parity."""

from __future__ import annotations

import inspect
from typing import Any

import knouds

EXPECTED_ALL = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "ApiKeyAccessDeniedError",
    "AsyncClient",
    "AsyncNotSupportedError",
    "AuthenticationError",
    "BadRequestError",
    "CapabilityAboveCeilingError",
    "CapabilityDeniedError",
    "Client",
    "ConfigurationError",
    "DefaultAioHttpClient",
    "Execution",
    "ExecutionCancelledError",
    "ExecutionError",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "ExecutionTimeoutError",
    "GrantExhaustedError",
    "Identity",
    "InsufficientCreditsError",
    "InternalServerError",
    "InvalidBodyError",
    "InvalidCapabilityError",
    "InvalidInputsError",
    "InvalidScopeError",
    "InvalidSlugError",
    "KnoudsError",
    "LegacyKeyRetiredError",
    "Media",
    "MediaDownloadError",
    "ModelNotFoundError",
    "ModelTierRequiredError",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RetryEvent",
    "RetryPolicy",
    "RunResult",
    "SchemaField",
    "ScopeDeniedError",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookVerificationError",
    "WorkflowNotFoundError",
    "WorkflowSchema",
    "__version__",
    "webhooks",
]


def test_all_is_pinned_sorted_and_resolvable() -> None:
    assert knouds.__all__ == EXPECTED_ALL
    assert knouds.__all__ == sorted(knouds.__all__)
    for name in knouds.__all__:
        assert hasattr(knouds, name), name


def test_every_public_name_has_a_docstring() -> None:
    for name in knouds.__all__:
        obj = getattr(knouds, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            assert inspect.getdoc(obj), name


def test_error_hierarchy_matches_the_design() -> None:
    k = knouds
    tree = {
        k.APITimeoutError: k.APIConnectionError,
        k.APIConnectionError: k.KnoudsError,
        k.APIResponseValidationError: k.KnoudsError,
        k.WebhookVerificationError: k.KnoudsError,
        k.APIStatusError: k.KnoudsError,
        k.ExecutionCancelledError: k.KnoudsError,
        k.ExecutionTimeoutError: k.KnoudsError,
    }
    for parent, children in {
        k.BadRequestError: [
            k.InvalidInputsError,
            k.InvalidSlugError,
            k.InvalidBodyError,
            k.AsyncNotSupportedError,
            k.InvalidScopeError,
            k.InvalidCapabilityError,
        ],
        k.AuthenticationError: [k.LegacyKeyRetiredError],
        k.PaymentRequiredError: [k.InsufficientCreditsError, k.GrantExhaustedError],
        k.PermissionDeniedError: [
            k.ScopeDeniedError,
            k.CapabilityDeniedError,
            k.ModelTierRequiredError,
            k.CapabilityAboveCeilingError,
            k.ApiKeyAccessDeniedError,
        ],
        k.NotFoundError: [k.ModelNotFoundError, k.WorkflowNotFoundError, k.ExecutionNotFoundError],
        k.InternalServerError: [k.ExecutionFailedError],
        k.APIStatusError: [
            k.BadRequestError,
            k.AuthenticationError,
            k.PaymentRequiredError,
            k.PermissionDeniedError,
            k.NotFoundError,
            k.RateLimitError,
            k.InternalServerError,
        ],
    }.items():
        for child in children:
            tree[child] = parent
    for child, parent in tree.items():
        assert child.__bases__[0] is parent, child


def _public(obj: Any) -> dict[str, inspect.Signature | None]:
    names = {}
    for name, member in inspect.getmembers(obj):
        if name.startswith("_"):
            continue
        names[name] = (
            inspect.signature(member) if callable(member) and not inspect.isclass(member) else None
        )
    return names


def _params(sig: inspect.Signature | None) -> list[tuple[str, Any, Any]] | None:
    if sig is None:
        return None
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def test_sync_and_async_clients_have_the_same_surface() -> None:
    pairs = [
        (knouds.Client, knouds.AsyncClient),
        (knouds.Client("k").models, knouds.AsyncClient("k").models),
        (knouds.Client("k").workflows, knouds.AsyncClient("k").workflows),
        (knouds.Client("k").executions, knouds.AsyncClient("k").executions),
    ]
    for sync_obj, async_obj in pairs:
        sync_api, async_api = _public(sync_obj), _public(async_obj)
        async_api.pop("aclose", None)
        assert sorted(sync_api) == sorted(async_api), (sync_obj, async_obj)
        for name, sig in sync_api.items():
            assert _params(sig) == _params(async_api[name]), name
            member = getattr(async_obj, name)
            if callable(member) and name not in ("with_options",) and not inspect.isclass(member):
                assert inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member), (
                    name
                )
