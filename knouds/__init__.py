"""The Python SDK for the Knouds API.

>>> import knouds
>>> client = knouds.Client()  # doctest: +SKIP
>>> result = client.models.run("gpt-image-2", {"prompt": "a red fox"})  # doctest: +SKIP

``import knouds`` is cheap: names are loaded from their modules on first use, so a command-line
start or a module that only imports the package pays for httpx and pydantic only when it uses them.
The names, and the modules that define them, are listed once in ``knouds/_public.py``.
"""

from __future__ import annotations

import importlib
import os as _os
from typing import TYPE_CHECKING

from ._public import PUBLIC as _PUBLIC
from ._version import __version__

if _os.environ.get("KNOUDS_LOG"):  # like OPENAI_LOG: the knouds logger to stderr
    from ._logs import configure_from_environment

    configure_from_environment()

if TYPE_CHECKING:
    from . import webhooks
    from ._async.client import AsyncClient
    from ._core.journal import JournalEntry
    from ._core.retry import (
        RetryEvent,
        RetryPolicy,
    )
    from ._exceptions import (
        APIConnectionError,
        APIKeyAccessDeniedError,
        ApiKeyAccessDeniedError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AsyncNotSupportedError,
        AuthenticationError,
        BadRequestError,
        BudgetExceededError,
        BudgetStoreError,
        CapabilityAboveCeilingError,
        CapabilityDeniedError,
        ConfigurationError,
        ExecutionCancelledError,
        ExecutionFailedError,
        ExecutionNotFoundError,
        ExecutionTimeoutError,
        GrantExhaustedError,
        IdempotencyConflictError,
        InsufficientCreditsError,
        InternalServerError,
        InvalidBodyError,
        InvalidCapabilityError,
        InvalidInputsError,
        InvalidScopeError,
        InvalidSlugError,
        JournalError,
        KnoudsError,
        LegacyKeyRetiredError,
        MediaDownloadError,
        MediaFileExistsError,
        MediaSaveError,
        ModelNotFoundError,
        ModelTierRequiredError,
        NotFoundError,
        PaymentRequiredError,
        PermissionDeniedError,
        RateLimitError,
        RateLimitStoreError,
        ScopeDeniedError,
        StoreError,
        UnknownOutcomeError,
        WebhookVerificationError,
        WorkflowNotFoundError,
    )
    from ._stores.budget import Budget
    from ._stores.journal import Journal
    from ._stores.redis_journal import RedisJournal
    from ._stores.sqlite_journal import SQLiteJournal
    from ._stores.usage import BatchResults, Usage, UsageLine
    from ._sync.client import Client
    from ._transports.aiohttp import DefaultAioHttpClient
    from ._types import (
        NOT_GIVEN,
        NotGiven,
    )
    from .models import (
        Execution,
        ExecutionError,
        Identity,
        Media,
        RunResult,
        SchemaField,
        WebhookDelivery,
        Workflow,
        WorkflowSchema,
        WorkflowSummary,
    )
    from .models._ratelimit import RateLimit
    from .webhooks import WebhookEvent

__all__ = [
    "APIConnectionError",
    "APIKeyAccessDeniedError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "ApiKeyAccessDeniedError",
    "AsyncClient",
    "AsyncNotSupportedError",
    "AuthenticationError",
    "BadRequestError",
    "BatchResults",
    "Budget",
    "BudgetExceededError",
    "BudgetStoreError",
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
    "IdempotencyConflictError",
    "Identity",
    "InsufficientCreditsError",
    "InternalServerError",
    "InvalidBodyError",
    "InvalidCapabilityError",
    "InvalidInputsError",
    "InvalidScopeError",
    "InvalidSlugError",
    "Journal",
    "JournalEntry",
    "JournalError",
    "KnoudsError",
    "LegacyKeyRetiredError",
    "Media",
    "MediaDownloadError",
    "MediaFileExistsError",
    "MediaSaveError",
    "ModelNotFoundError",
    "ModelTierRequiredError",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RateLimitStoreError",
    "RedisJournal",
    "RetryEvent",
    "RetryPolicy",
    "RunResult",
    "SQLiteJournal",
    "SchemaField",
    "ScopeDeniedError",
    "StoreError",
    "UnknownOutcomeError",
    "Usage",
    "UsageLine",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookVerificationError",
    "Workflow",
    "WorkflowNotFoundError",
    "WorkflowSchema",
    "WorkflowSummary",
    "__version__",
    "webhooks",
]


if not TYPE_CHECKING:
    # Hidden from type checkers: they see only the imports above, so a misspelled or missing
    # name is an error in user code instead of a silent ``Any``.

    def __getattr__(name: str) -> object:
        home = _PUBLIC.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module = importlib.import_module(home)
        value = module if home == f"{__name__}.{name}" else getattr(module, name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
