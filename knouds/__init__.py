"""The Python SDK for the Knouds API.

>>> import knouds
>>> client = knouds.Client()  # doctest: +SKIP
>>> result = client.models.run("gpt-image-2", {"prompt": "a red fox"})  # doctest: +SKIP
"""

from __future__ import annotations

from . import webhooks
from ._client import AsyncClient, Client
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
from ._ratelimit import RateLimit
from ._retry import RetryEvent, RetryPolicy
from ._types import NOT_GIVEN, NotGiven
from ._version import __version__
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
