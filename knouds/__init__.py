"""The Python SDK for the Knouds API.

>>> import knouds
>>> client = knouds.Client()  # doctest: +SKIP
>>> result = client.models.run("gpt-image-2", {"prompt": "a red fox"})  # doctest: +SKIP

``import knouds`` is cheap: names are loaded from their modules on first use, so a command-line
start or a module that only imports the package pays for httpx and pydantic only when it uses them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from . import webhooks
    from ._aiohttp import DefaultAioHttpClient
    from ._client import (
        AsyncClient,
        Client,
    )
    from ._exceptions import (
        APIConnectionError,
        ApiKeyAccessDeniedError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AsyncNotSupportedError,
        AuthenticationError,
        BadRequestError,
        CapabilityAboveCeilingError,
        CapabilityDeniedError,
        ConfigurationError,
        ExecutionCancelledError,
        ExecutionFailedError,
        ExecutionNotFoundError,
        ExecutionTimeoutError,
        GrantExhaustedError,
        InsufficientCreditsError,
        InternalServerError,
        InvalidBodyError,
        InvalidCapabilityError,
        InvalidInputsError,
        InvalidScopeError,
        InvalidSlugError,
        KnoudsError,
        LegacyKeyRetiredError,
        MediaDownloadError,
        ModelNotFoundError,
        ModelTierRequiredError,
        NotFoundError,
        PaymentRequiredError,
        PermissionDeniedError,
        RateLimitError,
        ScopeDeniedError,
        WebhookVerificationError,
        WorkflowNotFoundError,
    )
    from ._ratelimit import (
        RateLimit,
    )
    from ._retry import (
        RetryEvent,
        RetryPolicy,
    )
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
        WorkflowSchema,
    )
    from .webhooks import WebhookEvent

# Public name -> the module that defines it (a submodule's own name maps to itself).
_LAZY: dict[str, str] = {
    "APIConnectionError": "._exceptions",
    "APIResponseValidationError": "._exceptions",
    "APIStatusError": "._exceptions",
    "APITimeoutError": "._exceptions",
    "ApiKeyAccessDeniedError": "._exceptions",
    "AsyncClient": "._client",
    "AsyncNotSupportedError": "._exceptions",
    "AuthenticationError": "._exceptions",
    "BadRequestError": "._exceptions",
    "CapabilityAboveCeilingError": "._exceptions",
    "CapabilityDeniedError": "._exceptions",
    "Client": "._client",
    "ConfigurationError": "._exceptions",
    "DefaultAioHttpClient": "._aiohttp",
    "Execution": ".models",
    "ExecutionCancelledError": "._exceptions",
    "ExecutionError": ".models",
    "ExecutionFailedError": "._exceptions",
    "ExecutionNotFoundError": "._exceptions",
    "ExecutionTimeoutError": "._exceptions",
    "GrantExhaustedError": "._exceptions",
    "Identity": ".models",
    "InsufficientCreditsError": "._exceptions",
    "InternalServerError": "._exceptions",
    "InvalidBodyError": "._exceptions",
    "InvalidCapabilityError": "._exceptions",
    "InvalidInputsError": "._exceptions",
    "InvalidScopeError": "._exceptions",
    "InvalidSlugError": "._exceptions",
    "KnoudsError": "._exceptions",
    "LegacyKeyRetiredError": "._exceptions",
    "Media": ".models",
    "MediaDownloadError": "._exceptions",
    "ModelNotFoundError": "._exceptions",
    "ModelTierRequiredError": "._exceptions",
    "NOT_GIVEN": "._types",
    "NotFoundError": "._exceptions",
    "NotGiven": "._types",
    "PaymentRequiredError": "._exceptions",
    "PermissionDeniedError": "._exceptions",
    "RateLimit": "._ratelimit",
    "RateLimitError": "._exceptions",
    "RetryEvent": "._retry",
    "RetryPolicy": "._retry",
    "RunResult": ".models",
    "SchemaField": ".models",
    "ScopeDeniedError": "._exceptions",
    "WebhookDelivery": ".models",
    "WebhookEvent": ".webhooks",
    "WebhookVerificationError": "._exceptions",
    "WorkflowNotFoundError": "._exceptions",
    "WorkflowSchema": ".models",
    "webhooks": ".webhooks",
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if module == "." + name:
        value: Any = importlib.import_module(module, __name__)
    else:
        value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
