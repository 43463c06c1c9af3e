"""The one table of public names: each name ``knouds`` exports and the module that defines it.

The lazy loader in ``knouds/__init__.py`` reads it; the type-only imports and ``__all__`` there
are checked against it by ``tests/unit/test_public_api.py``. To add a public name, add it here,
to those imports and to ``__all__``, and call `publish` at the end of the module that defines it.

Stdlib only: ``import knouds`` loads this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["PUBLIC", "publish"]

PUBLIC: Final[Mapping[str, str]] = {
    "APIConnectionError": "knouds._exceptions",
    "APIKeyAccessDeniedError": "knouds._exceptions",
    "APIResponseValidationError": "knouds._exceptions",
    "APIStatusError": "knouds._exceptions",
    "APITimeoutError": "knouds._exceptions",
    "ApiKeyAccessDeniedError": "knouds._exceptions",
    "AsyncClient": "knouds._async.client",
    "AsyncNotSupportedError": "knouds._exceptions",
    "AuthenticationError": "knouds._exceptions",
    "BadRequestError": "knouds._exceptions",
    "BatchResults": "knouds._stores.usage",
    "Budget": "knouds._stores.budget",
    "BudgetExceededError": "knouds._exceptions",
    "BudgetStoreError": "knouds._exceptions",
    "CapabilityAboveCeilingError": "knouds._exceptions",
    "CapabilityDeniedError": "knouds._exceptions",
    "Client": "knouds._sync.client",
    "ConfigurationError": "knouds._exceptions",
    "DefaultAioHttpClient": "knouds._transports.aiohttp",
    "Execution": "knouds.models",
    "ExecutionCancelledError": "knouds._exceptions",
    "ExecutionError": "knouds.models",
    "ExecutionFailedError": "knouds._exceptions",
    "ExecutionNotFoundError": "knouds._exceptions",
    "ExecutionTimeoutError": "knouds._exceptions",
    "GrantExhaustedError": "knouds._exceptions",
    "IdempotencyConflictError": "knouds._exceptions",
    "Identity": "knouds.models",
    "InsufficientCreditsError": "knouds._exceptions",
    "InternalServerError": "knouds._exceptions",
    "InvalidBodyError": "knouds._exceptions",
    "InvalidCapabilityError": "knouds._exceptions",
    "InvalidInputsError": "knouds._exceptions",
    "InvalidScopeError": "knouds._exceptions",
    "InvalidSlugError": "knouds._exceptions",
    "Journal": "knouds._stores.journal",
    "JournalEntry": "knouds._core.journal",
    "JournalError": "knouds._exceptions",
    "KnoudsError": "knouds._exceptions",
    "LegacyKeyRetiredError": "knouds._exceptions",
    "Media": "knouds.models",
    "MediaDownloadError": "knouds._exceptions",
    "MediaFileExistsError": "knouds._exceptions",
    "MediaSaveError": "knouds._exceptions",
    "ModelNotFoundError": "knouds._exceptions",
    "ModelTierRequiredError": "knouds._exceptions",
    "NOT_GIVEN": "knouds._types",
    "NotFoundError": "knouds._exceptions",
    "NotGiven": "knouds._types",
    "PaymentRequiredError": "knouds._exceptions",
    "PermissionDeniedError": "knouds._exceptions",
    "RateLimit": "knouds.models._ratelimit",
    "RateLimitError": "knouds._exceptions",
    "RateLimitStoreError": "knouds._exceptions",
    "RedisJournal": "knouds._stores.redis_journal",
    "RetryEvent": "knouds._core.retry",
    "RetryPolicy": "knouds._core.retry",
    "RunResult": "knouds.models",
    "SQLiteJournal": "knouds._stores.sqlite_journal",
    "SchemaField": "knouds.models",
    "ScopeDeniedError": "knouds._exceptions",
    "StoreError": "knouds._exceptions",
    "UnknownOutcomeError": "knouds._exceptions",
    "Usage": "knouds._stores.usage",
    "UsageLine": "knouds._stores.usage",
    "WebhookDelivery": "knouds.models",
    "WebhookEvent": "knouds.webhooks",
    "WebhookVerificationError": "knouds._exceptions",
    "Workflow": "knouds.models",
    "WorkflowNotFoundError": "knouds._exceptions",
    "WorkflowSchema": "knouds.models",
    "WorkflowSummary": "knouds.models",
    # A submodule is listed under its own name.
    "webhooks": "knouds.webhooks",
}


def publish(namespace: Mapping[str, object]) -> None:
    """Make the public classes defined in a module report ``knouds`` as their module.

    Called at the end of each module that `PUBLIC` names, with its ``globals()``, so tracebacks and
    reprs show ``knouds.RateLimitError`` rather than the private module it lives in (pickle then
    finds the class through ``knouds`` too).

    Raises:
        RuntimeError: a pydantic model still has annotations to resolve; pydantic would look for
            them in ``knouds`` once the module is changed, so call ``model_rebuild()`` first.
    """
    module = namespace["__name__"]
    for name, home in PUBLIC.items():
        value = namespace.get(name) if home == module else None
        if not isinstance(value, type):
            continue
        if not getattr(value, "__pydantic_fields_complete__", True):
            raise RuntimeError(f"{module}.{name} has unresolved annotations: rebuild it first")
        _resolve_annotations(value)
        value.__module__ = "knouds"


def _resolve_annotations(cls: type) -> None:
    """Replace a class's string annotations with what they name, while its module is still the
    one they are written in: type hints are looked up in ``cls.__module__``, which is about to
    become ``knouds`` (pydantic, FastAPI and ``typing.get_type_hints`` read them)."""
    import inspect
    import typing

    own = inspect.get_annotations(cls)
    if not own or not any(isinstance(value, str) for value in own.values()):
        return
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # names only type checkers import: left as they are
        return
    cls.__annotations__ = {name: hints.get(name, value) for name, value in own.items()}
    for field in getattr(cls, "__dataclass_fields__", {}).values():  # read by pydantic
        field.type = hints.get(field.name, field.type)
