"""What the workflows resources of both clients share: input names checked against the schema,
and the published estimate of a batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.checks import check_count
from .._core.spend import RunRef
from .._exceptions import InvalidInputsError
from .._types import Inputs
from ..models import WorkflowSchema

if TYPE_CHECKING:
    from .client import _BaseClient

__all__ = ["check_input_names"]


def check_input_names(slug: str, inputs: Inputs, schema: WorkflowSchema) -> None:
    """Refuse input names that are not fields of the workflow's schema.

    Raises:
        InvalidInputsError: naming the unknown fields and listing the allowed ones.
    """
    allowed = schema.field_names
    unknown = [name for name in inputs if name not in allowed]
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        listing = ", ".join(repr(name) for name in allowed) or "none"
        raise InvalidInputsError(
            f"Workflow {slug!r} has no input field {names}; its fields are: {listing}",
            code="INVALID_INPUTS",
        )


def _wants_estimate(client: _BaseClient, max_credits: object, progress: object) -> bool:
    """Read the schema's estimate before a batch only when something uses it."""
    return max_credits is not None or client._spend.budget is not None or bool(progress)


def _total(client: _BaseClient, slug: str, schema: WorkflowSchema, runs: int) -> float | None:
    check_count(runs, "runs")
    each = schema.estimated_credit_cost
    if each is None:
        return None
    client._spend.publish(RunRef("workflow", slug), float(each))
    return float(each) * runs
