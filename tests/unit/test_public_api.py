"""The public surface: a pinned ``__all__`` and sync/async parity."""

from __future__ import annotations

import ast
import importlib
import inspect
import pickle
import traceback
import typing
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter

import knouds
from knouds._public import PUBLIC, publish

EXPECTED_ALL = [
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


def test_all_is_pinned_sorted_and_resolvable() -> None:
    assert knouds.__all__ == EXPECTED_ALL
    assert knouds.__all__ == sorted(knouds.__all__)
    for name in knouds.__all__:
        assert hasattr(knouds, name), name


def test_every_public_name_has_a_docstring() -> None:
    for name in knouds.__all__:
        obj = getattr(knouds, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            assert inspect.getdoc(obj), name


def test_error_hierarchy_matches_the_design() -> None:
    k = knouds
    tree: dict[type[knouds.KnoudsError], type[knouds.KnoudsError]] = {
        k.APITimeoutError: k.APIConnectionError,
        k.APIConnectionError: k.KnoudsError,
        k.APIResponseValidationError: k.KnoudsError,
        k.WebhookVerificationError: k.KnoudsError,
        k.APIStatusError: k.KnoudsError,
        k.ExecutionCancelledError: k.KnoudsError,
        k.ExecutionTimeoutError: k.KnoudsError,
        k.StoreError: k.KnoudsError,
        k.RateLimitStoreError: k.StoreError,
        k.BudgetStoreError: k.StoreError,
        k.JournalError: k.StoreError,
        k.UnknownOutcomeError: k.JournalError,
        k.IdempotencyConflictError: k.JournalError,
    }
    hierarchy: dict[type[knouds.KnoudsError], list[type[knouds.KnoudsError]]] = {
        k.BadRequestError: [
            k.InvalidInputsError,
            k.InvalidSlugError,
            k.InvalidBodyError,
            k.AsyncNotSupportedError,
            k.InvalidScopeError,
            k.InvalidCapabilityError,
        ],
        k.AuthenticationError: [k.LegacyKeyRetiredError],
        k.PaymentRequiredError: [k.InsufficientCreditsError, k.GrantExhaustedError],
        k.PermissionDeniedError: [
            k.ScopeDeniedError,
            k.CapabilityDeniedError,
            k.ModelTierRequiredError,
            k.CapabilityAboveCeilingError,
            k.APIKeyAccessDeniedError,
        ],
        k.NotFoundError: [k.ModelNotFoundError, k.WorkflowNotFoundError, k.ExecutionNotFoundError],
        k.InternalServerError: [k.ExecutionFailedError],
        k.APIStatusError: [
            k.BadRequestError,
            k.AuthenticationError,
            k.PaymentRequiredError,
            k.PermissionDeniedError,
            k.NotFoundError,
            k.RateLimitError,
            k.InternalServerError,
        ],
    }
    for parent, children in hierarchy.items():
        for child in children:
            tree[child] = parent
    for child, parent in tree.items():
        assert child.__bases__[0] is parent, child


def test_former_names_are_the_same_classes() -> None:
    assert knouds.ApiKeyAccessDeniedError is knouds.APIKeyAccessDeniedError
    assert knouds.APIKeyAccessDeniedError.__name__ == "APIKeyAccessDeniedError"
    from knouds._stores.budget import BudgetStoreError

    assert BudgetStoreError is knouds.BudgetStoreError
    assert issubclass(knouds.ConfigurationError, ValueError)


def _public(obj: Any) -> dict[str, inspect.Signature | None]:
    names = {}
    for name, member in inspect.getmembers(obj):
        if name.startswith("_"):
            continue
        names[name] = (
            inspect.signature(member) if callable(member) and not inspect.isclass(member) else None
        )
    return names


def _params(sig: inspect.Signature | None) -> list[tuple[str, Any, Any]] | None:
    if sig is None:
        return None
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def test_sync_and_async_clients_have_the_same_surface() -> None:
    pairs = [
        (knouds.Client, knouds.AsyncClient),
        (knouds.Client("k").models, knouds.AsyncClient("k").models),
        (knouds.Client("k").workflows, knouds.AsyncClient("k").workflows),
        (knouds.Client("k").executions, knouds.AsyncClient("k").executions),
    ]
    for sync_obj, async_obj in pairs:
        sync_api, async_api = _public(sync_obj), _public(async_obj)
        async_api.pop("aclose", None)
        assert sorted(sync_api) == sorted(async_api), (sync_obj, async_obj)
        for name, sig in sync_api.items():
            assert _params(sig) == _params(async_api[name]), name
            member = getattr(async_obj, name)
            if callable(member) and name not in ("with_options",) and not inspect.isclass(member):
                assert inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member), (
                    name
                )


# -- the one table of public names ---------------------------------------------------------

INIT = Path(knouds.__file__)


def _type_only_imports() -> dict[str, str]:
    """The names ``knouds/__init__.py`` imports under ``if TYPE_CHECKING:``, and from where."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
        if node.test.id == "TYPE_CHECKING"
    )
    imports: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom), ast.dump(node)
        package = "knouds" + "." * (node.level > 1)
        for alias in node.names:
            assert alias.asname is None, alias.asname
            if node.module is None:  # ``from . import webhooks``
                imports[alias.name] = f"knouds.{alias.name}"
            else:
                imports[alias.name] = f"{package}.{node.module}".replace("..", ".")
    return imports


def test_the_table_type_only_imports_and_all_name_the_same_things() -> None:
    assert _type_only_imports() == dict(PUBLIC)
    assert knouds.__all__ == sorted([*PUBLIC, "__version__"])


def test_every_name_of_the_table_loads_from_the_module_it_names() -> None:
    for name, home in PUBLIC.items():
        module = importlib.import_module(home)
        expected = module if home == f"knouds.{name}" else getattr(module, name)
        assert getattr(knouds, name) is expected, name


def test_the_lazy_loader_is_hidden_from_type_checkers() -> None:
    # A module ``__getattr__`` that type checkers can see makes every misspelled name ``Any``.
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            assert node.name != "__getattr__", "__getattr__ must sit under `if not TYPE_CHECKING`"
    guarded = [
        node
        for node in tree.body
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.UnaryOp)
        and isinstance(node.test.op, ast.Not)
        and isinstance(node.test.operand, ast.Name)
        and node.test.operand.id == "TYPE_CHECKING"
    ]
    assert [f.name for g in guarded for f in g.body if isinstance(f, ast.FunctionDef)] == [
        "__getattr__"
    ]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Clinet'"):
        getattr(knouds, "Clinet")  # noqa: B009
    with pytest.raises(ImportError):
        exec("from knouds import Exectuion", {})


# -- public classes live in ``knouds`` ------------------------------------------------------

PUBLIC_CLASSES = [name for name in PUBLIC if isinstance(getattr(knouds, name), type)]


def test_public_classes_report_knouds_as_their_module() -> None:
    assert len(PUBLIC_CLASSES) >= 45
    for name in PUBLIC_CLASSES:
        cls = getattr(knouds, name)
        assert cls.__module__ == "knouds", name
        # A former name (ApiKeyAccessDeniedError) shows the class's own, documented name.
        assert repr(cls) == f"<class 'knouds.{cls.__qualname__}'>"
        assert getattr(knouds, cls.__qualname__) is cls
    aliases = {name for name in PUBLIC_CLASSES if getattr(knouds, name).__qualname__ != name}
    assert aliases == {"ApiKeyAccessDeniedError"}


def test_annotations_of_public_classes_still_resolve() -> None:
    # Type hints are looked up in the class's module, now ``knouds``: they must resolve there as
    # they did where the class is defined (pydantic, FastAPI and typing.get_type_hints read them).
    for name in PUBLIC_CLASSES:
        assert typing.get_type_hints(getattr(knouds, name)) is not None, name
    policy = TypeAdapter(knouds.RetryPolicy).validate_python({"max_retries": 3})
    assert policy == knouds.RetryPolicy(max_retries=3)
    assert typing.get_type_hints(knouds.RetryEvent)["error"] is knouds.KnoudsError


def test_a_traceback_names_the_public_class() -> None:
    try:
        raise knouds.RateLimitError("Too many requests", status_code=429, retry_after=2)
    except knouds.RateLimitError as error:
        last = traceback.format_exception(type(error), error, error.__traceback__)[-1]
    assert last == ("knouds.RateLimitError: Too many requests (HTTP 429). Retry after 2 s.\n")


def _examples() -> list[object]:
    response = httpx.Response(
        429,
        json={"error": "Too many requests", "code": "RATE_LIMIT_EXCEEDED", "limit": 5},
        request=httpx.Request("POST", "https://knouds.ai/api/models/gpt-image-2/run"),
    )
    errors: list[object] = []
    for name in PUBLIC_CLASSES:
        cls = getattr(knouds, name)
        if issubclass(cls, knouds.APIStatusError):
            errors.append(cls("It failed", status_code=429, code="X", body={}, response=response))
        elif cls is knouds.ExecutionTimeoutError:
            errors.append(cls("Still running", execution_id="exe_1"))
        elif cls is knouds.BudgetExceededError:
            errors.append(cls("Budget spent", limit=10, spent=12, held=4, requested=4))
        elif issubclass(cls, knouds.KnoudsError):
            errors.append(cls("It failed"))
    assert len(errors) >= 35
    return [
        *errors,
        knouds.RunResult.model_validate(
            {"success": True, "result": {"images": ["https://cdn.test/a.png"]}, "cost": 1}
        ),
        knouds.Execution.model_validate({"executionId": "exe_1", "status": "processing"}),
        knouds.RetryPolicy(max_retries=4),
        knouds.RateLimit(limit=10, remaining=3, reset=1_700_000_000),
        knouds.NOT_GIVEN,
    ]


@pytest.mark.parametrize("value", _examples(), ids=lambda v: type(v).__name__)
def test_public_objects_survive_pickling(value: object) -> None:
    copy = pickle.loads(pickle.dumps(value))
    assert type(copy) is type(value)
    if isinstance(value, BaseException):
        assert isinstance(copy, BaseException)
        assert str(copy) == str(value)
        assert copy.args == value.args
        assert vars(copy).keys() == vars(value).keys()
    elif value is knouds.NOT_GIVEN:
        assert copy is value
    else:
        assert copy == value


def test_publish_refuses_a_model_with_unresolved_annotations() -> None:
    class Later(BaseModel):
        child: Undefined  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(RuntimeError, match="unresolved annotations"):
        publish({"__name__": "knouds.models", "Execution": Later})
    assert Later.__module__ != "knouds"


def test_every_method_that_calls_the_api_takes_a_retry_policy() -> None:
    without = []
    for client in (knouds.Client("k"), knouds.AsyncClient("k")):
        for owner in (client, client.models, client.workflows, client.executions):
            for name, member in inspect.getmembers(owner):
                if name.startswith("_") or not inspect.ismethod(member):
                    continue
                params = inspect.signature(member).parameters
                if "timeout" in params and "retry" not in params:
                    without.append(f"{type(owner).__name__}.{name}")
    assert without == []
