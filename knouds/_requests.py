"""Arguments and routes, checked before anything is sent: names, ids, inputs, endpoints."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ._exceptions import (
    ExecutionNotFoundError,
    InvalidBodyError,
    InvalidInputsError,
    InvalidSlugError,
    ModelNotFoundError,
    NotFoundError,
    WorkflowNotFoundError,
)

__all__ = [
    "Endpoint",
    "check_execution_id",
    "check_slug",
    "encode_inputs",
    "encode_workflow",
    "short",
]

SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
EXECUTION_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


# -- arguments ------------------------------------------------------------------------------------


def check_slug(value: object, what: str) -> str:
    """A valid model name or workflow slug, or `InvalidSlugError` (nothing is sent)."""
    if not isinstance(value, str) or SLUG_RE.fullmatch(value) is None:
        raise InvalidSlugError(
            f"{value!r} is not a valid {what}: use lowercase letters, digits and hyphens",
            code="INVALID_SLUG",
        )
    return value


def check_execution_id(value: object) -> str:
    """An execution id safe to put in a path, or `ExecutionNotFoundError`."""
    if not isinstance(value, str) or EXECUTION_ID_RE.fullmatch(value) is None:
        raise ExecutionNotFoundError(f"{value!r} is not a valid execution id")
    return value


def _find_unserialisable(value: object, path: str) -> tuple[str, object] | None:
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} key {key!r}", key
            found = _find_unserialisable(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_unserialisable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    return path, value


def encode_inputs(inputs: object) -> bytes:
    """``{"inputs": inputs}`` as JSON bytes, or `InvalidInputsError` naming the bad value."""
    if not isinstance(inputs, Mapping):
        raise InvalidInputsError(
            f"inputs must be a mapping of field names to values, got {type(inputs).__name__} "
            f"{short(inputs)}",
            code="INVALID_INPUTS",
        )
    problem = _find_unserialisable(inputs, "inputs")
    if problem is not None:
        where, value = problem
        raise InvalidInputsError(
            f"{where} is {type(value).__name__} {short(value)}, which is not JSON-serialisable "
            "(use str, int, float, bool, None, lists and dicts with string keys; finite numbers)",
            code="INVALID_INPUTS",
        )
    payload = inputs if isinstance(inputs, dict) else dict(inputs)
    return json.dumps({"inputs": payload}, ensure_ascii=False, allow_nan=False).encode()


def encode_workflow(fields: Mapping[str, object]) -> bytes:
    """A workflow definition (``create`` / ``update`` body) as JSON bytes, or
    `InvalidBodyError` naming the value that cannot be sent."""
    problem = _find_unserialisable(fields, "workflow")
    if problem is not None:
        where, value = problem
        raise InvalidBodyError(
            f"{where} is {type(value).__name__} {short(value)}, which is not JSON-serialisable",
            code="INVALID_BODY",
        )
    return json.dumps(dict(fields), ensure_ascii=False, allow_nan=False).encode()


def short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- endpoints -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One API route: how to call it, which rate-limit bucket it counts against, and whether a
    repeat is harmless."""

    method: str
    path: str
    bucket: str
    idempotent: bool
    not_found: type[NotFoundError] = NotFoundError
    authenticated: bool = True
    # What a success carries besides the usual JSON object: "array" (a listing) or "any" (an
    # undocumented answer, possibly empty, as for PUT and DELETE).
    success_body: str = "object"

    @classmethod
    def model_run(cls, name: str) -> Endpoint:
        """``POST /api/models/{name}/run``."""
        path = f"/api/models/{check_slug(name, 'model name')}/run"
        return cls("POST", path, "models", False, ModelNotFoundError)

    @classmethod
    def workflow_run(cls, slug: str) -> Endpoint:
        """``POST /api/workflows/{slug}/run``."""
        path = f"/api/workflows/{check_slug(slug, 'workflow slug')}/run"
        return cls("POST", path, "workflows", False, WorkflowNotFoundError)

    @classmethod
    def workflow_schema(cls, slug: str, *, public: bool = False) -> Endpoint:
        """``GET /api/workflows/{slug}/schema`` (or ``public-schema``, sent without the key)."""
        leaf = "public-schema" if public else "schema"
        path = f"/api/workflows/{check_slug(slug, 'workflow slug')}/{leaf}"
        return cls("GET", path, f"workflows.{leaf}", True, WorkflowNotFoundError, not public)

    @classmethod
    def workflow_list(cls) -> Endpoint:
        """``GET /api/workflows``."""
        return cls("GET", "/api/workflows", "workflows.definitions", True, success_body="array")

    @classmethod
    def workflow_create(cls) -> Endpoint:
        """``POST /api/workflows``: not idempotent (a repeat makes a second workflow)."""
        return cls("POST", "/api/workflows", "workflows.definitions", False)

    @classmethod
    def workflow_definition(cls, slug: str, method: str = "GET") -> Endpoint:
        """``GET``, ``PUT`` or ``DELETE /api/workflows/{slug}``.

        All three are idempotent by HTTP semantics: ``PUT`` sets the same fields again, and a
        repeated ``DELETE`` leaves the workflow just as gone.
        """
        path = f"/api/workflows/{check_slug(slug, 'workflow slug')}"
        return cls(
            method,
            path,
            "workflows.definitions",
            True,
            WorkflowNotFoundError,
            success_body="object" if method == "GET" else "any",
        )

    @classmethod
    def execution(cls, execution_id: str, *, cancel: bool = False) -> Endpoint:
        """``GET /api/executions/{id}`` or ``POST /api/executions/{id}/cancel``."""
        path = f"/api/executions/{check_execution_id(execution_id)}"
        if cancel:
            return cls("POST", path + "/cancel", "executions", True, ExecutionNotFoundError)
        return cls("GET", path, "executions", True, ExecutionNotFoundError)

    @classmethod
    def whoami(cls) -> Endpoint:
        """``GET /api/whoami``."""
        return cls("GET", "/api/whoami", "whoami", True)
