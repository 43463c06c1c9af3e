"""What the workflows resources of both clients share: inputs checked against the schema (the
rules are in `knouds._core.inputs`), the cache of schemas they are checked against, and the
published estimate of a batch."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from .._core.checks import check_count
from .._core.inputs import InputRules, check_inputs, read_rules
from .._core.spend import RunRef
from .._exceptions import APIStatusError, InvalidInputsError
from .._types import Inputs
from ..models import WorkflowSchema

if TYPE_CHECKING:
    from .client import _BaseClient

__all__ = ["RefusedInputs", "SchemaCache", "check_workflow_inputs", "rules_of"]

logger = logging.getLogger("knouds")


def rules_of(schema: WorkflowSchema) -> InputRules:
    """The input rules a schema states (its fields as sent, unknown keys included)."""
    return read_rules((f.model_dump() for f in schema.fields), schema.values)


def check_workflow_inputs(slug: str, inputs: Inputs, schema: WorkflowSchema) -> None:
    """Refuse inputs the workflow's schema shows a mistake in: an unknown name, a value outside
    the options or the range, a value of the wrong type.

    Raises:
        InvalidInputsError: naming each bad field (and the allowed names, for an unknown one).
    """
    check_inputs(slug, inputs, rules_of(schema))


class SchemaCache:
    """The input rules of each workflow, read once per client (and its ``with_options`` copies
    for the same key), for ``check_inputs``. A slug whose schema the key may not read is
    remembered as unchecked. Thread-safe."""

    def __init__(self, owner: tuple[object, ...] = ()) -> None:
        self.owner = owner
        """What the cached answers depend on (the key and the server): copies share the cache
        only when theirs is the same."""
        self._rules: dict[str, InputRules | None] = {}
        self._lock = threading.Lock()

    def lookup(self, slug: str) -> tuple[bool, InputRules | None]:
        """``(known, rules)``: whether the slug was looked up, and its rules (``None`` when the
        schema could not be read, so its inputs go unchecked)."""
        with self._lock:
            if slug in self._rules:
                return True, self._rules[slug]
            return False, None

    def store(self, slug: str, schema: WorkflowSchema) -> InputRules:
        """Remember a schema just read; its rules."""
        rules = rules_of(schema)
        with self._lock:
            self._rules[slug] = rules
        return rules

    def unreadable(self, slug: str, error: APIStatusError) -> None:
        """Check no more inputs of ``slug`` (its schema was refused), saying so once."""
        with self._lock:
            if slug in self._rules and self._rules[slug] is None:
                return
            self._rules[slug] = None
        logger.warning(
            "check_inputs: cannot read the schema of workflow %r (%s); its inputs are sent "
            "unchecked. A key with the workflow:read capability can read it.",
            slug,
            error.code or f"HTTP {error.status_code}",
        )

    def forget(self, slug: str) -> None:
        """Read the schema again next time (the server refused inputs the rules accepted)."""
        with self._lock:
            self._rules.pop(slug, None)

    def for_copy(self, owner: tuple[object, ...]) -> SchemaCache:
        """The cache a ``with_options`` copy uses: this one when it talks to the same server with
        the same key, else a new one."""
        return self if owner == self.owner else SchemaCache(owner)


class RefusedInputs:
    """A batch input the check refused: it is never sent, and its slot gets ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: InvalidInputsError) -> None:
        self.error = error


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
