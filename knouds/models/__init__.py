"""Typed results. Every model keeps fields it does not know (the API adds fields without notice)."""

from __future__ import annotations

from .._public import publish
from ._api import (
    Execution,
    ExecutionError,
    ExecutionStatus,
    Identity,
    SchemaField,
    WebhookDelivery,
    WorkflowSchema,
)
from ._base import KnoudsModel
from ._media import Media, MediaKind, collect_media, collect_text
from ._results import RunResult
from ._workflows import Workflow, WorkflowSummary

__all__ = [
    "Execution",
    "ExecutionError",
    "ExecutionStatus",
    "Identity",
    "KnoudsModel",
    "Media",
    "MediaKind",
    "RunResult",
    "SchemaField",
    "WebhookDelivery",
    "Workflow",
    "WorkflowSchema",
    "WorkflowSummary",
    "collect_media",
    "collect_text",
]


publish(globals())
