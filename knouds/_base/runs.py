"""How a run or a submission is planned, the same for both clients: its request, its place in
the spend ledger and, when journaled, its key and record (see ``knouds/_core/pipeline.py``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .._core.pipeline import Call, Journaling, Spending
from .._core.requests import Endpoint, check_slug
from .._core.responses import parse_execution, parse_run_result
from .._core.retry import RetryPolicy
from .._core.spend import RunRef
from .._types import Inputs, NotGiven, TimeoutTypes

if TYPE_CHECKING:
    from .._stores.journal import Journal
    from .._stores.spend import BatchSpend
    from .client import _BaseClient

__all__ = ["Kind", "RunOptions", "check_name", "plan_run", "run_ref"]

Kind = Literal["models", "workflows"]
_ASYNC = {"async": "true"}


class RunOptions(NamedTuple):
    """How each request of a run is made."""

    validate: bool
    timeout: TimeoutTypes | NotGiven
    extra_headers: Mapping[str, str] | None
    retry: RetryPolicy | None
    check_inputs: bool | None = None  # None: the client's setting


@functools.lru_cache(maxsize=512)
def run_ref(kind: Kind, name: str) -> RunRef:
    """What the credit budget and the usage report call a model or workflow."""
    return RunRef("model" if kind == "models" else "workflow", name)


def plan_run(
    client: _BaseClient,
    kind: Kind,
    name: str,
    inputs: Inputs,
    options: RunOptions,
    *,
    submit: bool,
    content: bytes,
    wait: Callable[..., Any] | None,
    get: Callable[[str], Any] | None,
    batch: BatchSpend | None = None,
    journal: Journal | None = None,
    key: str | None = None,
    want_execution: bool = False,
    then_wait: bool = False,
    resend_unknown: bool = False,
) -> Call[Any]:
    """The `Call` of one run (``submit``: an async submission) whose inputs encode as
    ``content``, after checking its arguments: a run refused before sending is never claimed,
    held or recorded."""
    models = kind == "models"
    ctx = client._context(
        Endpoint.model_run(name, submission=submit)
        if models
        else Endpoint.workflow_run(name, submission=submit),
        content=content,
        params=_ASYNC if submit else None,
        timeout=options.timeout,
        extra_headers=options.extra_headers,
        retry=options.retry,
    )
    ledger = client._spend
    spending = Spending(ledger, run_ref(kind, name), batch, submit, ledger.limited(batch))
    parse = parse_execution if submit else parse_run_result
    if journal is None:
        return Call(ctx, parse, spending)
    assert wait is not None  # a journaled run follows its execution
    assert get is not None
    keys = client._journal_keys()
    target = f"{kind}/{name}"
    journaling = Journaling(
        journal=journal,
        key=keys.run_key(target, inputs, key),
        target=target,
        inputs_hash=keys.digest(target, inputs),
        wait=wait,
        get=get,
        want_execution=want_execution,
        then_wait=then_wait,
        resend_unknown=resend_unknown,
        secret=client._settings.api_key,
        deadline=ctx.policy.deadline,
    )
    return Call(ctx, parse, spending, journaling)


def check_name(kind: Kind, name: str) -> None:
    """Refuse a malformed model name or workflow slug before anything else happens."""
    check_slug(name, "model name" if kind == "models" else "workflow slug")
