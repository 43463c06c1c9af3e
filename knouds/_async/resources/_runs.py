"""What ``client.models`` and ``client.workflows`` share: one run or submission, journaled or not,
and batches of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from ..._base.batch import BatchProgress
from ..._base.runs import _ASYNC, RunOptions
from ..._base.workflows import RefusedInputs
from ..._core.attempt import Endpoint, check_slug, encode_inputs, parse_execution, parse_run_result
from ..._core.spend import (
    BatchSpend,
    RunRef,
    acharged_call,
    off_loop,
    plan_batch,
)
from ..._stores.usage import BatchResults
from ..._types import Inputs
from ...models import Execution, RunResult
from ..batch import run_batch_async

if TYPE_CHECKING:
    from ..._core.attempt import Parse
    from ..._stores.journal import Journal, JournalSpec
    from ..client import AsyncClient


__all__ = ["AsyncRuns"]

T = TypeVar("T")


class AsyncRuns:
    """Runs of a model or a workflow: the private half of `AsyncModels` and `AsyncWorkflows`."""

    _client: AsyncClient
    _kind: ClassVar[Literal["models", "workflows"]]

    def _ref(self, name: str) -> RunRef:
        """What the credit budget and the usage report call this model or workflow."""
        return RunRef("model" if self._kind == "models" else "workflow", name)

    async def _check_inputs(self, name: str, inputs: Inputs, options: RunOptions) -> None:
        """Refuse ``inputs`` before anything runs (``validate``, ``check_inputs``); models check
        nothing."""

    async def _screen(
        self, name: str, items: list[Inputs], options: RunOptions, return_exceptions: bool
    ) -> list[Inputs]:
        """A batch's inputs, those the check refuses replaced by a `RefusedInputs`; models
        check nothing."""
        return items

    async def _estimate_each(
        self,
        name: str,
        max_credits: float | None,
        progress: BatchProgress,
        options: RunOptions,
    ) -> float | None:
        """The published estimate of one run, read before a batch; models publish none."""
        return None

    async def _start(
        self,
        name: str,
        inputs: Inputs,
        params: dict[str, str] | None,
        parse: Parse[T],
        options: RunOptions,
        batch: BatchSpend | None = None,
    ) -> T:
        """One run or submission (``params`` carries ``async=true`` for a submission)."""
        content = encode_inputs(inputs)
        await self._check_inputs(name, inputs, options)
        models = self._kind == "models"
        ctx = self._client._context(
            Endpoint.model_run(name) if models else Endpoint.workflow_run(name),
            content=content,
            params=params,
            timeout=options.timeout,
            extra_headers=options.extra_headers,
            retry=options.retry,
        )
        return await acharged_call(self._client, ctx, parse, self._ref(name), batch)

    async def _journaled(
        self,
        journal: Journal,
        name: str,
        inputs: Inputs,
        key: str | None,
        want_execution: bool,
        options: RunOptions,
        via_submit: bool = False,
        resend_unknown: bool = False,
        poll_interval: float = 1.0,
        batch: BatchSpend | None = None,
    ) -> Any:
        """A run or submission recorded in ``journal`` (sent only if its key is not recorded)."""

        async def send(submit: bool) -> RunResult | Execution:
            if submit:
                return await self._start(name, inputs, _ASYNC, parse_execution, options, batch)
            return await self._start(name, inputs, None, parse_run_result, options, batch)

        from ..._core.journaled import plan_run

        run = plan_run(
            self._client,
            journal,
            f"{self._kind}/{name}",
            inputs,
            key,
            send,
            want_execution=want_execution,
            via_submit=via_submit,
            resend_unknown=resend_unknown,
            poll_interval=poll_interval,
            retry=options.retry,
        )
        return await self._client._journaled(run)

    async def _run(
        self, name: str, inputs: Inputs, options: RunOptions, key: str | None
    ) -> RunResult:
        """``run``: one run, recorded in the client's journal when it has one."""
        journal = self._client._journal_for(key)
        if journal is None:
            return await self._start(name, inputs, None, parse_run_result, options)
        result: RunResult = await self._journaled(journal, name, inputs, key, False, options)
        return result

    async def _submit(
        self, name: str, inputs: Inputs, options: RunOptions, key: str | None
    ) -> Execution:
        """``submit``: one submission, recorded in the client's journal when it has one."""
        journal = self._client._journal_for(key)
        if journal is None:
            return await self._start(name, inputs, _ASYNC, parse_execution, options)
        execution: Execution = await self._journaled(journal, name, inputs, key, True, options)
        return execution

    async def _run_one(
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
        """One input of a batch."""
        if isinstance(inputs, RefusedInputs):  # refused by the check: never sent
            raise inputs.error
        if journal is not None:
            result: RunResult = await self._journaled(
                journal,
                name,
                inputs,
                None,
                False,
                options,
                submit,
                resend_unknown,
                poll_interval,
                batch,
            )
            return result
        if submit:
            execution = await self._start(name, inputs, _ASYNC, parse_execution, options, batch)
            return await self._client.executions.wait(execution, poll_interval=poll_interval)
        return await self._start(name, inputs, None, parse_run_result, options, batch)

    async def _plan(
        self,
        name: str,
        runs: int,
        max_credits: float | None,
        progress: BatchProgress,
        options: RunOptions,
    ) -> BatchSpend:
        """A batch's spend control, after reading the published estimate when it is used."""
        each = await self._estimate_each(name, max_credits, progress, options)
        spend = self._client._spend
        ref = self._ref(name)
        return await off_loop(spend.blocking(), plan_batch, spend, ref, runs, max_credits, each)

    async def _run_many(
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
        client's) when there is one."""
        check_slug(name, "model name" if self._kind == "models" else "workflow slug")
        items = await self._screen(name, list(inputs_list), options, return_exceptions)
        runs = sum(not isinstance(item, RefusedInputs) for item in items)
        batch = await self._plan(name, runs, max_credits, progress, options)
        book, opened = self._client._batch_journal(journal)
        try:
            outcomes = await run_batch_async(
                lambda inputs: self._run_one(
                    book, name, inputs, options, submit, resend_unknown, poll_interval, batch
                ),
                self._client._keyed_inputs(book, f"{self._kind}/{name}", items),
                concurrency=concurrency,
                return_exceptions=return_exceptions,
                progress=progress,
                description=name,
                status=batch.status,
            )
        finally:
            if opened and book is not None:
                book.close()
        return batch.results(outcomes)
