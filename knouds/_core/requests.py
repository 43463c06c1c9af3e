"""Arguments and routes, checked before anything is sent: names, ids, inputs, endpoints."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .._exceptions import (
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
            f"{value!r} is not a valid {what}",  # the error's hint says what is
            code="INVALID_SLUG",
        )
    return value


def check_execution_id(value: object) -> str:
    """An execution id safe to put in a path, or `ExecutionNotFoundError`."""
    if not isinstance(value, str) or EXECUTION_ID_RE.fullmatch(value) is None:
        raise ExecutionNotFoundError(f"{value!r} is not a valid execution id")
    return value


# Deeper than any real input, and far from Python's recursion limit.
MAX_INPUT_DEPTH = 100


def _find_unserialisable(value: object, path: str) -> tuple[str, object, str] | None:
    """The first value JSON cannot carry: ``(where, value, why)``, or ``None``.

    Walks the inputs without recursion, so circular and very deep values are found, not
    crashed on.
    """
    stack: list[tuple[object, str, int]] = [(value, path, 0)]
    open_containers: set[int] = set()
    exits: list[tuple[int, int]] = []  # (stack height, container id) to forget on the way out
    while stack:
        while exits and len(stack) <= exits[-1][0]:
            open_containers.discard(exits.pop()[1])
        item, where, depth = stack.pop()
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            if not _encodable(item):
                return where, item, "a string with an unpaired surrogate (not valid Unicode)"
            continue
        if isinstance(item, int):
            if _too_many_digits(item):
                return where, item, "an integer too large to write as JSON"
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return where, item, "not a finite number"
            continue
        if not isinstance(item, (Mapping, list, tuple)):
            return where, item, "not JSON-serialisable"
        if depth >= MAX_INPUT_DEPTH:
            return where, item, f"nested more than {MAX_INPUT_DEPTH} levels deep"
        if id(item) in open_containers:
            return where, item, "a container that contains itself"
        open_containers.add(id(item))
        exits.append((len(stack), id(item)))
        if isinstance(item, Mapping):
            children = []
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"{where} key {short(key)}", key, "a key that is not a string"
                if not _encodable(key):
                    return f"{where} key {short(key)}", key, "a key that is not valid Unicode"
                children.append((child, f"{where}[{key!r}]", depth + 1))
        else:
            children = [(child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item)]
        stack.extend(reversed(children))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_many_digits(number: int) -> bool:
    # Python refuses to write integers past its digit limit as text: 4300 by default, set by
    # sys.set_int_max_str_digits or PYTHONINTMAXSTRDIGITS (asked each time: it may change).
    try:
        str(number)
    except ValueError:
        return True
    return False


def _plain(value: object) -> object:
    """What ``json.dumps`` writes for a mapping that is not a ``dict`` (a read-only
    ``MappingProxyType``, a ``ChainMap``): the checks accept every mapping, so it is sent."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def encode_inputs(inputs: object) -> bytes:
    """``{"inputs": inputs}`` as JSON bytes, or `InvalidInputsError` naming the bad value.

    Everything JSON cannot carry is refused here, before anything is sent: values of other
    types, non-finite numbers, strings that are not valid Unicode (lone surrogates, which
    ``json.loads`` can produce), integers past Python's digit limit, circular or extremely deep
    structures.
    """
    if not isinstance(inputs, Mapping):
        raise InvalidInputsError(
            f"inputs must be a mapping of field names to values, got {type(inputs).__name__} "
            f"{short(inputs)}",
            code="INVALID_INPUTS",
        )
    problem = _find_unserialisable(inputs, "inputs")
    if problem is None:
        try:
            return json.dumps(
                {"inputs": inputs}, ensure_ascii=False, allow_nan=False, default=_plain
            ).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            problem = ("inputs", inputs, _changed(exc))
    where, value, why = problem
    raise InvalidInputsError(
        f"{where} is {type(value).__name__} {_safe_short(value)}, which JSON cannot carry: "
        f"{why} (use str, int, float, bool, None, lists and dicts with string keys; finite "
        "numbers)",
        code="INVALID_INPUTS",
    )


def _changed(error: Exception) -> str:
    # Everything the checks let through encodes: a failure here means a mapping gave other
    # values when it was written than when it was checked (changed by another thread, say).
    return f"{error} (a value changed after it was checked)"


def _safe_short(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and _too_many_digits(value):
        return f"of {value.bit_length()} bits"
    return short(value)


def encode_workflow(fields: Mapping[str, object]) -> bytes:
    """A workflow definition (``create`` / ``update`` body) as JSON bytes, or
    `InvalidBodyError` naming the value that cannot be sent."""
    problem = _find_unserialisable(fields, "workflow")
    if problem is None:
        try:
            return json.dumps(
                dict(fields), ensure_ascii=False, allow_nan=False, default=_plain
            ).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            problem = ("workflow", fields, _changed(exc))
    where, value, why = problem
    raise InvalidBodyError(
        f"{where} is {type(value).__name__} {_safe_short(value)}, which JSON cannot carry: {why}",
        code="INVALID_BODY",
    )


def short(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages; never raises (a value
    whose ``repr`` fails, or an integer past Python's digit limit, is shown by its type)."""
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- endpoints -------------------------------------------------------------------------------------

_DEFINITION_OPERATIONS = {
    "GET": "get_workflow",
    "PUT": "update_workflow",
    "DELETE": "delete_workflow",
}


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
    # A run sent with ``?async=true``: answered with an execution to follow, not a result.
    submission: bool = False

    @property
    def target(self) -> str | None:
        """The model name or workflow slug the route is about (``None`` for the others)."""
        parts = self.path.split("/")  # "", "api", "models", name, ...
        if len(parts) > 3 and parts[2] in ("models", "workflows"):
            return parts[3]
        return None

    def operation(self) -> str:
        """What the telemetry and the logs call a call of this route: ``generate_content`` (a
        model run), ``run_workflow``, ``submit`` (``?async=true``), ``schema``,
        ``public_schema``, ``list_workflows``, ``create_workflow``, ``get_workflow``,
        ``update_workflow``, ``delete_workflow``, ``get_execution``, ``cancel_execution`` or
        ``whoami``."""
        bucket = self.bucket
        if bucket in ("models", "workflows"):
            if self.submission:
                return "submit"
            return "generate_content" if bucket == "models" else "run_workflow"
        if bucket.startswith("workflows.") and bucket != "workflows.definitions":
            return bucket[len("workflows.") :].replace("-", "_")
        if bucket == "workflows.definitions":
            if self.target is None:
                return "list_workflows" if self.method == "GET" else "create_workflow"
            return _DEFINITION_OPERATIONS[self.method]
        if bucket == "executions":
            return "cancel_execution" if self.method == "POST" else "get_execution"
        return bucket

    @classmethod
    def model_run(cls, name: str, *, submission: bool) -> Endpoint:
        """``POST /api/models/{name}/run`` (``?async=true`` for a ``submission``)."""
        path = f"/api/models/{check_slug(name, 'model name')}/run"
        return cls("POST", path, "models", False, ModelNotFoundError, submission=submission)

    @classmethod
    def workflow_run(cls, slug: str, *, submission: bool) -> Endpoint:
        """``POST /api/workflows/{slug}/run`` (``?async=true`` for a ``submission``)."""
        path = f"/api/workflows/{check_slug(slug, 'workflow slug')}/run"
        return cls("POST", path, "workflows", False, WorkflowNotFoundError, submission=submission)

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
