"""What the workflow-definition resources of both clients share: the body of a definition and
the watch on retries that may have landed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .._core.requests import short
from .._core.retry import RetryEvent, RetryPolicy
from .._exceptions import InvalidBodyError

if TYPE_CHECKING:
    from ..models._ratelimit import RateLimit

__all__: list[str] = []


def _definition(
    name: str | None,
    description: str | None,
    tags: Sequence[str] | None,
    nodes: Sequence[Mapping[str, Any]] | None,
    edges: Sequence[Mapping[str, Any]] | None,
    viewport: Mapping[str, Any] | None,
    public_playground: bool | None,
    extra_body: Mapping[str, Any] | None,
) -> dict[str, object]:
    """The fields given (``None`` means "not given"), in the API's names, or `InvalidBodyError`
    (nothing sent) for an argument of the wrong shape."""
    given: dict[str, object] = {
        "name": name,
        "description": description,
        "tags": None if tags is None else _array("tags", tags),
        "nodes": None if nodes is None else _objects("nodes", nodes),
        "edges": None if edges is None else _objects("edges", edges),
        "viewport": None if viewport is None else _object("viewport", viewport),
        "publicPlayground": public_playground,
    }
    fields = {k: v for k, v in given.items() if v is not None}
    fields.update(_object("extra_body", extra_body or {}))
    return fields


def _misshapen(argument: str, expected: str, value: object) -> InvalidBodyError:
    return InvalidBodyError(
        f"{argument} must be {expected}, got {type(value).__name__} {short(value)}",
        code="INVALID_BODY",
    )


def _array(argument: str, value: object) -> list[Any]:
    # A string is a sequence too: "demo" must not become the tags d, e, m, o.
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise _misshapen(argument, "a list", value)
    return list(value)


def _object(argument: str, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _misshapen(argument, "a mapping (a JSON object)", value)
    return dict(value)


def _objects(argument: str, value: object) -> list[dict[str, Any]]:
    items = _array(argument, value)
    for item in items:
        if not isinstance(item, Mapping):
            raise _misshapen(argument, "a list of mappings (JSON objects)", item)
    return [dict(item) for item in items]


def _ignore_body(body: object, rate_limit: RateLimit | None) -> None:
    return None


# Retries after these repeat an attempt that may have reached the server: a DELETE then finds the
# workflow already gone.
_MAY_HAVE_LANDED = frozenset({"unknown_outcome", "server_error"})


def _watching_retries(policy: RetryPolicy) -> tuple[RetryPolicy, list[RetryEvent]]:
    """A copy of ``policy`` that also records its retries (the caller's hook still runs)."""
    events: list[RetryEvent] = []
    hook = policy.on_retry

    def record(event: RetryEvent) -> None:
        events.append(event)
        if hook is not None:
            hook(event)

    return replace(policy, on_retry=record), events


def _already_gone(retries: list[RetryEvent]) -> bool:
    return any(event.reason in _MAY_HAVE_LANDED for event in retries)
