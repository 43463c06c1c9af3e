"""Models of the other endpoints: async executions, whoami and workflow schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, ValidationError, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from ._base import KnoudsModel as _Model
from ._ratelimit import RateLimit
from ._results import RunResult

__all__ = [
    "Execution",
    "ExecutionError",
    "ExecutionStatus",
    "Identity",
    "SchemaField",
    "WebhookDelivery",
    "WorkflowSchema",
]

ExecutionStatus = Literal["processing", "completed", "failed", "cancel_requested", "cancelled"]


class ExecutionError(_Model):
    """Why an async execution failed."""

    code: str | None = None
    message: str | None = None


class WebhookDelivery(_Model):
    """Whether a webhook will be called when an async execution ends."""

    configured: bool = False
    url: str | None = None


class Execution(_Model):
    """An async execution, as submitted or polled.

    Attributes:
        id: the execution id (``executionId``).
        status: ``processing``, ``completed``, ``failed``, ``cancel_requested`` or ``cancelled``
            (other strings may appear and are kept).
        request_id: the provider-side request id.
        poll_url: the path to poll, relative to the base URL.
        webhook_delivery: whether a webhook will be called.
        result, cost, ms: present once completed (a cancelled execution may carry a result).
        error: present when failed.
    """

    id: str = Field(alias="executionId")
    status: str = "processing"
    request_id: str | None = Field(default=None, alias="requestId")
    poll_url: str | None = Field(default=None, alias="pollUrl")
    webhook_delivery: WebhookDelivery | None = Field(default=None, alias="webhookDelivery")
    result: Any = None
    error: ExecutionError | None = None
    cost: int | float | None = None
    ms: int | float | None = None
    _rate_limit: RateLimit | None = PrivateAttr(default=None)

    @property
    def rate_limit(self) -> RateLimit | None:
        """The ``X-RateLimit-*`` state reported with this response, or ``None``."""
        return self._rate_limit

    @property
    def done(self) -> bool:
        """``True`` once the execution is completed, failed or cancelled."""
        return self.status in ("completed", "failed", "cancelled")

    def to_result(self) -> RunResult:
        """The execution's outcome as a `RunResult` (meaningful once completed)."""
        run = RunResult(success=True, result=self.result, cost=self.cost, ms=self.ms)
        run._rate_limit = self._rate_limit
        return run

    def __repr__(self) -> str:
        return f"Execution(id={self.id!r}, status={self.status!r})"

    __str__ = __repr__


class Identity(_Model):
    """Who an API key belongs to (``GET /api/whoami``)."""

    id: str | None = None
    email: str | None = None
    role: str | None = None
    tier: str | None = None
    approved: bool | None = None


class SchemaField(_Model):
    """One input field of a workflow. Only ``name`` is guaranteed; the rest is kept as sent.

    Read tolerantly: a value of an unexpected type (``"min": "low"``) reads as ``None`` instead
    of failing the whole schema, and the keys the SDK does not name (``step``, ...) are kept
    (``model_extra``).
    """

    name: str
    type: str | None = None
    label: str | None = None
    description: str | None = None
    required: bool | None = None
    options: list[Any] | None = None
    default: Any = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _tolerate(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as error:
            if not isinstance(data, dict):
                raise
            odd = {e["loc"][0] for e in error.errors() if e["loc"]}
            if not odd or "name" in odd:
                raise
            return handler({k: v for k, v in data.items() if k not in odd})


def _named_fields(value: object) -> object:
    """The schema's fields that have a name (the one thing the API guarantees); others are left
    out rather than failing the whole schema."""
    if not isinstance(value, (list, tuple)):
        return [] if value is None else value
    return [f for f in value if isinstance(f, dict) and isinstance(f.get("name"), str)]


def _saved_values(value: object) -> object:
    return {} if value is None else value


class WorkflowSchema(_Model):
    """A workflow's input fields (``GET /api/workflows/{slug}/schema`` or ``public-schema``).

    Attributes:
        fields: the input fields.
        values: the saved value per field (used when an input is omitted).
        name, description: the workflow's name and description.
        estimated_credit_cost: the credit estimate, when the server gives one.
    """

    fields: Annotated[list[SchemaField], BeforeValidator(_named_fields)] = Field(
        default_factory=list
    )
    values: Annotated[dict[str, Any], BeforeValidator(_saved_values)] = Field(default_factory=dict)
    name: str | None = None
    description: str | None = None
    estimated_credit_cost: int | float | None = Field(default=None, alias="estimatedCreditCost")

    @property
    def field_names(self) -> list[str]:
        """The names of the input fields, in order."""
        return [f.name for f in self.fields]
