# Generated from knouds/_async/resources/_runs.py by scripts/unasync.py:
# edit that file, not this one.
"""What ``client.models`` and ``client.workflows`` share: one run or submission, journaled or not,
and batches of them. Each run is planned (``knouds/_base/runs.py``) and performed by the client's
run pipeline."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..._base.batch import BatchProgress
from ..._base.offload import run_here
from ..._base.runs import RunOptions, check_name, plan_run, run_ref
from ..._base.workflows import RefusedInputs
from ..._core.requests import encode_inputs
from ..._core.spend import RunRef
from ..._exceptions import InvalidInputsError
from ..._stores.spend import BatchSpend, plan_batch
from ..._stores.usage import BatchResults
from ..._types import Inputs
from ...models import Execution, RunResult
from ..batch import run_batch

if TYPE_CHECKING:
    from ..._stores.journal import Journal, JournalSpec
    from ..client import Client


__all__ = ["Runs"]


class Runs:
    """Runs of a model or a workflow: the private half of `Models` and `Workflows`."""

    _client: Client
    _kind: ClassVar[Literal["models", "workflows"]]

    def _ref(self, name: str) -> RunRef:
        """What the credit budget and the usage report call this model or workflow."""
        return run_ref(self._kind, name)

    def _check_inputs(self, name: str, inputs: Inputs, options: RunOptions) -> None:
        """Refuse ``inputs`` before anything runs (``validate``, ``check_inputs``); models check
        nothing."""

    def _refused(self, name: str, options: RunOptions, error: InvalidInputsError) -> None:
        """What a run whose inputs the server refused tells the checks (models: nothing)."""

    def _screen(
        self, name: str, items: list[Inputs], options: RunOptions, return_exceptions: bool
    ) -> list[Inputs]:
        """A batch's inputs, those the check refuses replaced by a `RefusedInputs`; models
        check nothing."""
        return items

    def _estimate_each(
        self,
        name: str,
        max_credits: float | None,
        progress: BatchProgress,
        options: RunOptions,
    ) -> float | None:
        """The published estimate of one run, read before a batch; models publish none."""
        return None

    def _start(
        self,
        name: str,
        inputs: Inputs,
        options: RunOptions,
        *,
        submit: bool,
        journal: Journal | None = None,
        key: str | None = None,
        want_execution: bool = False,
        then_wait: bool = False,
        resend_unknown: bool = False,
        poll_interval: float = 1.0,
        batch: BatchSpend | None = None,
    ) -> Any:
        """One run or submission through the pipeline: checked, held under the budgets, sent,
        settled, and recorded in ``journal`` when there is one (sent only if its key holds no
        run yet)."""
        content = encode_inputs(inputs)  # refused first: nothing is fetched for bad inputs
        self._check_inputs(name, inputs, options)
        client = self._client
        wait = get = None
        if journal is not None:  # a journaled run follows its execution through these
            executions = client.executions
            wait = functools.partial(executions.wait, poll_interval=poll_interval)
            get = executions.get
        call = plan_run(
            client,
            self._kind,
            name,
            inputs,
            options,
            submit=submit,
            content=content,
            wait=wait,
            get=get,
            batch=batch,
            journal=journal,
            key=key,
            want_execution=want_execution,
            then_wait=then_wait,
            resend_unknown=resend_unknown,
        )
        try:
            return client._perform(call)
        except InvalidInputsError as error:
            self._refused(name, options, error)
            raise

    def _journal(self, key: str | None) -> Journal | None:
        """The client's journal, if it has one (opened off the event loop on first use)."""
        client = self._client
        if key is None and not client._needs_journal(None):
            return None
        return run_here(True, client._journal_for, key)

    def _run(self, name: str, inputs: Inputs, options: RunOptions, key: str | None) -> RunResult:
        """``run``: one run, recorded in the client's journal when it has one."""
        journal = self._journal(key)
        result: RunResult = self._start(
            name, inputs, options, submit=False, journal=journal, key=key
        )
        return result

    def _submit(self, name: str, inputs: Inputs, options: RunOptions, key: str | None) -> Execution:
        """``submit``: one submission, recorded in the client's journal when it has one."""
        journal = self._journal(key)
        execution: Execution = self._start(
            name, inputs, options, submit=True, journal=journal, key=key, want_execution=True
        )
        return execution

    def _run_one(
        self,
        journal: Journal | None,
        name: str,
        inputs: Inputs,
        options: RunOptions,
        submit: bool,
        resend_unknown: bool,
        poll_interval: float,
        batch: BatchSpend,
    ) -> RunResult:
        """One input of a batch (with ``submit``: submitted, then waited for)."""
        if isinstance(inputs, RefusedInputs):  # refused by the check: never sent
            raise inputs.error
        value = self._start(
            name,
            inputs,
            options,
            submit=submit,
            journal=journal,
            then_wait=True,
            resend_unknown=resend_unknown,
            poll_interval=poll_interval,
            batch=batch,
        )
        if isinstance(value, Execution):  # not journaled: wait for it here
            result: RunResult = self._client.executions.wait(value, poll_interval=poll_interval)
            return result
        assert isinstance(value, RunResult)
        return value

    def _plan(
        self,
        name: str,
        runs: int,
        max_credits: float | None,
        progress: BatchProgress,
        options: RunOptions,
    ) -> BatchSpend:
        """A batch's spend control, after reading the published estimate when it is used."""
        each = self._estimate_each(name, max_credits, progress, options)
        spend = self._client._spend
        ref = self._ref(name)
        return run_here(spend.blocking(), plan_batch, spend, ref, runs, max_credits, each)

    def _run_many(
        self,
        name: str,
        inputs_list: Iterable[Inputs],
        options: RunOptions,
        concurrency: int,
        return_exceptions: bool,
        progress: BatchProgress,
        journal: JournalSpec | None,
        submit: bool,
        resend_unknown: bool,
        poll_interval: float,
        max_credits: float | None,
    ) -> BatchResults:
        """``run_many``: the batch, within its spend control, recorded in its journal (or the
        client's) when there is one; in a span of its own, the parent of its runs, when
        telemetry is on."""
        check_name(self._kind, name)
        items = list(inputs_list)
        telemetry = self._client._telemetry
        args = (options, concurrency, return_exceptions, progress, journal, submit)
        watch = None if telemetry is None else telemetry.watch_batch("run_many", name, len(items))
        if watch is None:
            return self._batch(name, items, *args, resend_unknown, poll_interval, max_credits)
        try:
            results = self._batch(name, items, *args, resend_unknown, poll_interval, max_credits)
        except BaseException as error:
            watch.end(error=error)
            raise
        watch.end(results)
        return results

    def _batch(
        self,
        name: str,
        items: list[Inputs],
        options: RunOptions,
        concurrency: int,
        return_exceptions: bool,
        progress: BatchProgress,
        journal: JournalSpec | None,
        submit: bool,
        resend_unknown: bool,
        poll_interval: float,
        max_credits: float | None,
    ) -> BatchResults:
        """The body of `_run_many`."""
        client = self._client
        items = self._screen(name, items, options, return_exceptions)
        runs = sum(not isinstance(item, RefusedInputs) for item in items)
        batch = self._plan(name, runs, max_credits, progress, options)
        blocking = client._needs_journal(journal)
        book, opened = run_here(blocking, client._batch_journal, journal)
        try:
            if book is not None:
                target = f"{self._kind}/{name}"
                items = client._journal_keys().tag_batch(target, items)
            outcomes = run_batch(
                lambda inputs: self._run_one(
                    book, name, inputs, options, submit, resend_unknown, poll_interval, batch
                ),
                items,
                concurrency=concurrency,
                return_exceptions=return_exceptions,
                progress=progress,
                description=name,
                status=batch.status,
                secret=client._settings.api_key,
            )
        finally:
            if opened and book is not None:
                run_here(True, book.close)
        return batch.results(outcomes)
