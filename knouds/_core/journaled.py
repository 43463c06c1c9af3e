"""A journaled run as a sans-I/O flow: claim the key, send, record, or reuse what is recorded.

`journaled_flow` is a generator of commands (`JournalCall`, `ApiCall`, ``Sleep``); `drive` and
`drive_async` run it for the sync and the async client, so the decisions exist once. Journal
operations are short blocking calls; the async driver runs them in a worker thread (see
`drive_async`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from .._exceptions import (
    ExecutionCancelledError,
    ExecutionFailedError,
    IdempotencyConflictError,
    JournalError,
    KnoudsError,
    UnknownOutcomeError,
)
from .._stores.journal import (
    Journal,
    JournalEntry,
    batch_keys,
    default_key,
    describe_error,
    inputs_digest,
    mark_done,
    mark_in_flight,
    outcome_of,
)
from .._types import Clock, Inputs
from ..models import Execution, RunResult
from .attempt import DISPATCH, Dispatch, Sleep, check_slug, encode_inputs
from .retry import RetryPolicy

__all__ = [
    "ApiCall",
    "JournalCall",
    "JournaledRun",
    "KeyedInputs",
    "drive",
    "drive_async",
    "journaled_flow",
    "keyed_inputs",
    "plan_run",
    "server_of",
]

logger = logging.getLogger("knouds")
_FIRST_RECHECK = 0.05
_MAX_RECHECK = 1.0


@dataclass(frozen=True)
class JournalCall:
    """Command: call a journal operation (short and blocking) and resume with its value."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiCall:
    """Command: make a client call (its value, or an awaitable of it) and resume with it."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    dispatch: Dispatch | None = None  # what the call's requests report to (see `Dispatch`)


Command = JournalCall | ApiCall | Sleep


@dataclass(frozen=True)
class JournaledRun:
    """One journaled run or submission: where it is recorded and how to send and follow it.

    ``send(submit)`` makes the request (``submit=True``: ``?async=true``, giving an
    `Execution`); ``wait(id, timeout=...)`` waits for an execution's result; ``get(id)`` reads
    its state. ``deadline`` bounds the whole call, waits for a run in flight elsewhere included.
    """

    journal: Journal
    key: str
    target: str
    inputs_hash: str
    send: Callable[[bool], Any]
    wait: Callable[..., Any]
    get: Callable[[str], Any]
    want_execution: bool = False
    via_submit: bool = False
    resend_unknown: bool = False
    secret: str | None = field(default=None, repr=False)  # kept out of stored errors
    deadline: float | None = None  # seconds for the whole call (the retry policy's deadline)


class KeyedInputs(dict[str, Any]):
    """A batch input carrying its journal key (so the batch runner need not know keys)."""

    journal_key: str = ""


def server_of(client: Any) -> str:
    """The server a client's runs go to, as journal keys name it (its base URL)."""
    return str(client._settings.base_url).rstrip("/")


def keyed_inputs(target: str, inputs_list: Iterable[Inputs], server: str) -> list[Inputs]:
    """The batch's inputs, each tagged with its key from `batch_keys` (inputs that are not
    mappings are passed through: the run refuses them before anything is recorded)."""
    items = list(inputs_list)
    plain = [item if isinstance(item, Mapping) else {} for item in items]
    keys = batch_keys(target, plain, server)
    tagged: list[Inputs] = []
    for item, key in zip(items, keys, strict=True):
        if isinstance(item, Mapping):
            keyed = KeyedInputs(item)
            keyed.journal_key = key
            tagged.append(keyed)
        else:
            tagged.append(item)
    return tagged


def plan_run(
    client: Any,
    journal: Journal,
    target: str,
    inputs: Inputs,
    key: str | None,
    send: Callable[[bool], Any],
    *,
    want_execution: bool,
    via_submit: bool = False,
    resend_unknown: bool = False,
    poll_interval: float = 1.0,
    retry: RetryPolicy | None = None,
) -> JournaledRun:
    """Check the arguments (nothing is recorded for a run that would be refused before sending)
    and describe the journaled run (``retry``: the call's policy, else the client's)."""
    kind, _, name = target.partition("/")
    check_slug(name, "model name" if kind == "models" else "workflow slug")
    encode_inputs(inputs)
    if key is not None and (not isinstance(key, str) or not key or len(key) > 500):
        raise ValueError(f"idempotency_key must be a non-empty string (at most 500), got {key!r}")
    server = server_of(client)
    if key is None:
        key = getattr(inputs, "journal_key", None) or default_key(target, inputs, server)
    executions = client.executions
    return JournaledRun(
        journal=journal,
        key=key,
        target=target,
        inputs_hash=inputs_digest(target, inputs, server),
        send=send,
        wait=functools.partial(executions.wait, poll_interval=poll_interval),
        get=executions.get,
        want_execution=want_execution,
        via_submit=via_submit,
        resend_unknown=resend_unknown,
        secret=client._settings.api_key,
        deadline=(retry if retry is not None else client.retry_policy).deadline,
    )


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def unknown_outcome(entry: JournalEntry) -> UnknownOutcomeError:
    """The error for a run that may have run: what happened and how to resolve it."""
    if entry.state == "unknown" and entry.error:
        how = f"its last attempt ended with: {entry.error.get('message')}"
    else:
        how = f"process {entry.owner} never recorded how it ended (it stopped mid-run)"
    return UnknownOutcomeError(
        f"The journaled run {entry.key!r} ({entry.target}) started at {_when(entry.started_at)}"
        f" and {how}. It may have run and been charged, so it is not sent again. If it did not "
        "run, send it again with resend_unknown=True (knouds batch --resend-unknown) or "
        f"journal.forget({entry.key!r}); if it did, settle it with "
        f"journal.mark_failed({entry.key!r}, note).",
        key=entry.key,
        entry=entry,
    )


def _still_in_flight(run: JournaledRun, entry: JournalEntry) -> IdempotencyConflictError:
    """The error for a caller whose deadline ran out while the key's run was in flight."""
    return IdempotencyConflictError(
        f"The key {run.key!r} is still in flight elsewhere (process {entry.owner}, started at "
        f"{_when(entry.started_at)}) and the call's deadline ({run.deadline:g} s) ran out "
        "waiting for it; nothing was sent. Call again later to get its result.",
        key=run.key,
    )


def _record(journal: Journal, entry: JournalEntry, **changes: Any) -> Generator[Command, Any, None]:
    """Record how a run went; a journal failure here is logged, never raised: the run already
    happened, and its result must reach the caller (the entry keeps its earlier state, so a
    later run with this key is not sent blindly)."""
    try:
        stored = yield JournalCall(journal.record, (entry,), changes)
    except JournalError as error:
        logger.warning(
            "Could not record the %s state of journaled run %r: %s",
            changes.get("state"),
            entry.key,
            error,
        )
        return
    if not stored:
        logger.warning(
            "Could not record the %s state of journaled run %r: its record was taken over "
            "meanwhile (forgotten, or sent again with resend_unknown), so this end is not kept",
            changes.get("state"),
            entry.key,
        )


def _wait_phase(
    run: JournaledRun, entry: JournalEntry, give_up_at: float | None, clock: Clock
) -> Generator[Command, Any, RunResult]:
    """Wait on a submitted execution (until ``give_up_at``, the call's deadline, if set) and
    record how it ended. Other errors (a wait that timed out, a lost connection) leave the entry
    ``submitted``: a later run waits on it again."""
    assert entry.execution_id is not None
    wait = run.wait
    if give_up_at is not None:
        wait = functools.partial(run.wait, timeout=max(give_up_at - clock(), 0.001))
    try:
        result = yield ApiCall(wait, (entry.execution_id,))
    except (ExecutionFailedError, ExecutionCancelledError) as error:
        failure = describe_error(error, run.secret)
        yield from _record(run.journal, entry, state="failed", error=failure)
        raise
    yield from _record(run.journal, entry, state="completed", result=_dump(result))
    assert isinstance(result, RunResult)
    return result


def _interrupted(interrupt: BaseException, dispatch: Dispatch) -> dict[str, Any]:
    """How to record a run interrupted while it was being sent: ``rejected`` (sent again by the
    next run with its key) when provably nothing left the machine, ``unknown`` otherwise."""
    name = type(interrupt).__name__
    if dispatch.nothing_sent:
        state, message = "rejected", f"Interrupted ({name}) before the request was sent"
    else:
        state = "unknown"
        message = f"Interrupted ({name}) after the request may have been sent"
    error = {"type": "KnoudsError", "message": message, "status_code": None, "code": None}
    return {"state": state, "error": error}


def _dump(result: RunResult) -> dict[str, Any]:
    return result.model_dump(mode="json", by_alias=True)


def journaled_flow(run: JournaledRun, clock: Clock) -> Generator[Command, Any, Any]:
    """Run ``run`` at most once across every process sharing its journal.

    Returns a `RunResult` (or an `Execution` for a submission).

    While the key's run is in flight elsewhere, waits for it to end, up to ``run.deadline``.

    Raises:
        UnknownOutcomeError: the key's run started earlier and its end is unknown.
        IdempotencyConflictError: the key names a run of other inputs, or its run was still in
            flight elsewhere when the call's deadline ran out (nothing was sent).
        ExecutionTimeoutError: the call's deadline ran out while waiting on the key's
            submitted execution (it goes on; the entry stays ``submitted``).
        JournalError: the journal could not record the claim (nothing was sent).
        KnoudsError: what the run raised, or the stored error of a failed run.
    """
    journal = run.journal
    give_up_at = None if run.deadline is None else clock() + run.deadline
    replace_token: str | None = None
    delay = _FIRST_RECHECK
    while True:
        token = uuid.uuid4().hex
        mark_in_flight(token)  # before the claim exists, so no reader takes it for an orphan
        try:
            claim = yield JournalCall(
                journal.claim, (run.key, run.target, run.inputs_hash, token, replace_token)
            )
        except BaseException:
            mark_done(token)
            raise
        # The entry may hold this very token: a store client that retried the claim after a
        # timeout applied it twice, and the second answer shows our own claim.
        if claim.claimed or claim.entry.token == token:
            break
        mark_done(token)
        entry: JournalEntry = claim.entry
        if entry.state == "completed":
            if not run.want_execution:
                return entry.run_result()
            if entry.execution_id is None:
                raise IdempotencyConflictError(
                    f"The key {run.key!r} holds a synchronous run, which has no execution to "
                    "return: use run() for it.",
                    key=run.key,
                )
            return (yield ApiCall(run.get, (entry.execution_id,)))
        if entry.state == "failed":
            raise entry.stored_error()
        if entry.state == "submitted" and entry.execution_id is not None:
            if run.want_execution:
                return (yield ApiCall(run.get, (entry.execution_id,)))
            return (yield from _wait_phase(run, entry, give_up_at, clock))
        if entry.state == "started" and journal.is_alive(entry, clock()):
            pause = delay  # in flight elsewhere: wait for it to end, within the deadline
            if give_up_at is not None:
                left = give_up_at - clock()
                if left <= 0:
                    raise _still_in_flight(run, entry)
                pause = min(delay, left)
            yield Sleep(pause)
            delay = min(delay * 2, _MAX_RECHECK)
            continue
        if not run.resend_unknown:
            raise unknown_outcome(entry)
        replace_token = entry.token

    entry = claim.entry
    try:
        dispatch = Dispatch()
        try:
            value = yield ApiCall(run.send, (run.via_submit or run.want_execution,), dispatch)
        except KnoudsError as error:
            outcome = outcome_of(error)
            failure = describe_error(error, run.secret)
            yield from _record(journal, entry, state=outcome, error=failure)
            raise
        except GeneratorExit:
            raise
        except BaseException as interrupt:  # KeyboardInterrupt, a cancelled task
            yield from _record(journal, entry, **_interrupted(interrupt, dispatch))
            raise
        if isinstance(value, Execution):
            yield from _record(journal, entry, state="submitted", execution_id=value.id)
            if run.want_execution:
                return value
            entry = replace(entry, state="submitted", execution_id=value.id)
            return (yield from _wait_phase(run, entry, give_up_at, clock))
        yield from _record(journal, entry, state="completed", result=_dump(value))
        return value
    finally:
        mark_done(token)


def drive(
    flow: Generator[Command, Any, Any], sleep: Callable[[float], Any], *, offload: bool = False
) -> Any:
    """Run a journaled flow with blocking I/O (the sync client).

    ``offload`` is `drive_async`'s and changes nothing here: the calling thread is the one that
    waits, on the disk as on the network.
    """
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                command = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                if isinstance(command, Sleep):
                    sleep(command.seconds)
                elif isinstance(command, JournalCall):
                    value = command.fn(*command.args, **command.kwargs)
                else:
                    reset = DISPATCH.set(command.dispatch)
                    try:
                        value = command.fn(*command.args)
                    finally:
                        DISPATCH.reset(reset)
            except (KnoudsError, KeyboardInterrupt) as exc:
                error = exc  # the flow records what it must, then raises it again
    finally:
        flow.close()


async def drive_async(
    flow: Generator[Command, Any, Any],
    sleep: Callable[[float], Awaitable[None]],
    *,
    offload: bool = False,
) -> Any:
    """Run a journaled flow on the event loop (the async client).

    With ``offload`` (what the client passes for its journals), each journal operation runs in a
    worker thread, so the loop keeps serving other tasks meanwhile: even a fast one can wait (a
    durable SQLite write syncs the file; any SQLite write waits while another process holds the
    write lock, up to the busy timeout; a Redis call waits on the network, up to its timeout).
    """
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                command = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                if isinstance(command, Sleep):
                    await sleep(command.seconds)
                elif isinstance(command, JournalCall):
                    if offload:
                        call = functools.partial(command.fn, *command.args, **command.kwargs)
                        value = await asyncio.to_thread(call)
                    else:
                        value = command.fn(*command.args, **command.kwargs)
                else:
                    reset = DISPATCH.set(command.dispatch)
                    try:
                        value = command.fn(*command.args)
                        if inspect.isawaitable(value):
                            value = await value
                    finally:
                        DISPATCH.reset(reset)
            except (KnoudsError, KeyboardInterrupt, asyncio.CancelledError) as exc:
                error = exc  # the flow records what it must, then raises it again
    finally:
        flow.close()
