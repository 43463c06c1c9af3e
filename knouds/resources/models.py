"""``client.models``: run registry models, synchronously or as async executions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._batch import BatchProgress, run_batch, run_batch_async
from .._core import Endpoint, check_slug, encode_inputs, parse_execution, parse_run_result
from .._retry import RetryPolicy
from .._spend import BatchSpend, RunRef, acharged_call, charged_call, off_loop, plan_batch
from .._types import NOT_GIVEN, Inputs, NotGiven, TimeoutTypes
from .._usage import BatchResults
from ..models import Execution, RunResult

if TYPE_CHECKING:
    from .._client import AsyncClient, Client
    from .._core import Parse
    from .._journal import Journal, JournalSpec

__all__ = ["AsyncModels", "Models"]

T = TypeVar("T")
_ASYNC = {"async": "true"}


class Models:
    """Registry models: ``POST /api/models/{internalName}/run``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _start(
        self,
        name: str,
        inputs: Inputs,
        params: dict[str, str] | None,
        parse: Parse[T],
        timeout: TimeoutTypes | NotGiven,
        extra_headers: Mapping[str, str] | None,
        retry: RetryPolicy | None,
        batch: BatchSpend | None = None,
    ) -> T:
        """One run or submission (``params`` carries ``async=true`` for a submission)."""
        ctx = self._client._context(
            Endpoint.model_run(name),
            content=encode_inputs(inputs),
            params=params,
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return charged_call(self._client, ctx, parse, RunRef("model", name), batch)

    def _journaled(
        self,
        journal: Journal,
        name: str,
        inputs: Inputs,
        key: str | None,
        want_execution: bool,
        options: tuple[TimeoutTypes | NotGiven, Mapping[str, str] | None, RetryPolicy | None],
        via_submit: bool = False,
        resend_unknown: bool = False,
        poll_interval: float = 1.0,
        batch: BatchSpend | None = None,
    ) -> Any:
        """A run or submission recorded in ``journal`` (sent only if its key is not recorded)."""

        def send(submit: bool) -> RunResult | Execution:
            if submit:
                return self._start(name, inputs, _ASYNC, parse_execution, *options, batch)
            return self._start(name, inputs, None, parse_run_result, *options, batch)

        from .._journaled import plan_run

        run = plan_run(
            self._client,
            journal,
            f"models/{name}",
            inputs,
            key,
            send,
            want_execution=want_execution,
            via_submit=via_submit,
            resend_unknown=resend_unknown,
            poll_interval=poll_interval,
            retry=options[-1],
        )
        return self._client._journaled(run)

    def _run_one(
        self,
        journal: Journal | None,
        name: str,
        inputs: Inputs,
        options: tuple[TimeoutTypes | NotGiven, Mapping[str, str] | None, RetryPolicy | None],
        submit: bool,
        resend_unknown: bool,
        poll_interval: float,
        batch: BatchSpend | None = None,
    ) -> RunResult:
        """One input of a batch."""
        if journal is not None:
            result: RunResult = self._journaled(
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
            execution = self._start(name, inputs, _ASYNC, parse_execution, *options, batch)
            return self._client.executions.wait(execution, poll_interval=poll_interval)
        return self._start(name, inputs, None, parse_run_result, *options, batch)

    def _plan(
        self,
        name: str,
        runs: int,
        max_credits: float | None,
        progress: BatchProgress,
        timeout: TimeoutTypes | NotGiven,
        extra_headers: Mapping[str, str] | None,
    ) -> BatchSpend:
        """A batch's spend control (models publish no estimate)."""
        return plan_batch(self._client._spend, RunRef("model", name), runs, max_credits, None)

    def run_many(
        self,
        name: str,
        inputs_list: Iterable[Inputs],
        *,
        concurrency: int = 8,
        return_exceptions: bool = True,
        progress: BatchProgress = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        journal: JournalSpec | None = None,
        submit: bool = False,
        resend_unknown: bool = False,
        poll_interval: float = 1.0,
        max_credits: float | None = None,
    ) -> BatchResults:
        """Run a model on many inputs, ``concurrency`` at a time; results come in input order.

        Each input goes through `run` (same retries and rate-limit pacing, shared by every
        worker thread).

        Args:
            name: the model's internal name, e.g. ``"gpt-image-2"``.
            inputs_list: one inputs mapping per run.
            concurrency: how many runs may be in flight at once (default 8).
            return_exceptions: put each failed input's error in its slot (default). With
                ``False``, the first error stops the batch: no further input is started, runs
                already in flight finish, then that error is raised.
            progress: ``True`` shows a tqdm bar when tqdm is installed (``pip install
                knouds[tqdm]``; without it, no bar), or a ``callback(done, total, outcome)``
                called after each input.
            timeout: each run's per-attempt timeout (default: the client's).
            extra_headers: headers for each run.
            retry: each run's retry policy (default: the client's).
            journal: record the batch in this run journal (a SQLite file path, a ``redis://``
                URL, or a `Journal`; default: the client's, if any). Running the same batch
                again with the same journal resumes it: completed inputs come from the journal
                without sending anything, inputs refused with an error that proves nothing ran
                are sent again, and an input whose outcome is unknown (the process died while
                it was in flight) is not sent: its slot holds an `UnknownOutcomeError`.
            submit: start each input as an async execution (``?async=true``) and wait for it.
                With a journal, the execution id is recorded right after the submission, so a
                resumed batch waits on it instead of running it again: no input's outcome is
                ever unknown. The model must support async runs.
            resend_unknown: send inputs whose outcome is unknown again (they may be charged
                twice).
            poll_interval: with ``submit``, seconds between the first polls of each execution.
            max_credits: the most credits this batch may spend, on top of the client's
                ``budget``: once spent, the remaining inputs get `BudgetExceededError`
                and are not sent. With a progress bar, the credits charged so far and the
                projected total of the batch are shown after the first result.

        Returns:
            One slot per input, in input order: its `RunResult`, or the
            `KnoudsError` it raised; ``.usage`` tells what the batch cost.

        Raises:
            InvalidSlugError: ``name`` is not valid; raised at once, nothing is sent.
            KnoudsError: with ``return_exceptions=False``, the first error an input raised.

        Example:
            >>> inputs = [{"prompt": p} for p in ["a red fox", "a blue whale"]]
            >>> client.models.run_many("gpt-image-2", inputs)  # doctest: +SKIP
            >>> client.models.run_many(
            ...     "gpt-image-2", inputs, journal="batch.sqlite"
            ... )  # doctest: +SKIP
        """
        check_slug(name, "model name")
        items = list(inputs_list)
        batch = self._plan(name, len(items), max_credits, progress, timeout, extra_headers)
        book, opened = self._client._batch_journal(journal)
        options = (timeout, extra_headers, retry)
        try:
            outcomes = run_batch(
                lambda inputs: self._run_one(
                    book, name, inputs, options, submit, resend_unknown, poll_interval, batch
                ),
                self._client._keyed_inputs(book, f"models/{name}", items),
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

    def run(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
    ) -> RunResult:
        """Run a model and wait for its output.

        Args:
            name: the model's internal name, e.g. ``"gpt-image-2"``.
            inputs: the model's parameters, e.g. ``{"prompt": "a red fox"}``.
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).
            idempotency_key: names this run in the client's journal (``Client(journal=...)``;
                without a key, a journaled run is named by a hash of the model and inputs).
                A key already completed returns its stored result and sends nothing; a key in
                flight in another thread or process is waited for, up to the retry policy's
                ``deadline`` (if set); a key whose run started and never recorded an end raises
                `UnknownOutcomeError`. Keys expire with the journal's ``ttl``.

        Returns:
            The typed result: ``images``, ``videos``, ``audios``, ``text``, ``cost``, ``ms``.

        Raises:
            InvalidSlugError: ``name`` is not a valid model name (nothing is sent).
            InvalidInputsError: ``inputs`` is not a JSON-serialisable mapping (nothing is sent).
            APIStatusError: a subclass for each status and code the API answers.
            BudgetExceededError: the client's credit budget has no room for the run (nothing is
                sent).
            UnknownOutcomeError: the key's earlier run may have happened (nothing is sent).
            IdempotencyConflictError: the key names a run of other inputs, or the retry
                policy's ``deadline`` ran out while the key's run was in flight elsewhere
                (nothing is sent).
            ConfigurationError: an ``idempotency_key`` without a journal on the client.
        """
        journal = self._client._journal_for(idempotency_key)
        if journal is None:
            return self._start(name, inputs, None, parse_run_result, timeout, extra_headers, retry)
        options = (timeout, extra_headers, retry)
        result: RunResult = self._journaled(journal, name, inputs, idempotency_key, False, options)
        return result

    def submit(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Start a model run asynchronously (``?async=true``) and return at once.

        Follow it with ``client.executions.wait(execution.id)``. Models whose provider cannot run
        asynchronously raise `AsyncNotSupportedError`. With ``idempotency_key`` (see `run`), a
        key already submitted returns its execution's current state instead of a new one.
        """
        journal = self._client._journal_for(idempotency_key)
        if journal is None:
            return self._start(name, inputs, _ASYNC, parse_execution, timeout, extra_headers, retry)
        options = (timeout, extra_headers, retry)
        execution: Execution = self._journaled(
            journal, name, inputs, idempotency_key, True, options
        )
        return execution


class AsyncModels:
    """Registry models: ``POST /api/models/{internalName}/run``, awaited."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _start(
        self,
        name: str,
        inputs: Inputs,
        params: dict[str, str] | None,
        parse: Parse[T],
        timeout: TimeoutTypes | NotGiven,
        extra_headers: Mapping[str, str] | None,
        retry: RetryPolicy | None,
        batch: BatchSpend | None = None,
    ) -> T:
        """One run or submission (``params`` carries ``async=true`` for a submission)."""
        ctx = self._client._context(
            Endpoint.model_run(name),
            content=encode_inputs(inputs),
            params=params,
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await acharged_call(self._client, ctx, parse, RunRef("model", name), batch)

    async def _journaled(
        self,
        journal: Journal,
        name: str,
        inputs: Inputs,
        key: str | None,
        want_execution: bool,
        options: tuple[TimeoutTypes | NotGiven, Mapping[str, str] | None, RetryPolicy | None],
        via_submit: bool = False,
        resend_unknown: bool = False,
        poll_interval: float = 1.0,
        batch: BatchSpend | None = None,
    ) -> Any:
        """A run or submission recorded in ``journal``. See `Models._journaled`."""

        async def send(submit: bool) -> RunResult | Execution:
            if submit:
                return await self._start(name, inputs, _ASYNC, parse_execution, *options, batch)
            return await self._start(name, inputs, None, parse_run_result, *options, batch)

        from .._journaled import plan_run

        run = plan_run(
            self._client,
            journal,
            f"models/{name}",
            inputs,
            key,
            send,
            want_execution=want_execution,
            via_submit=via_submit,
            resend_unknown=resend_unknown,
            poll_interval=poll_interval,
            retry=options[-1],
        )
        return await self._client._journaled(run)

    async def _run_one(
        self,
        journal: Journal | None,
        name: str,
        inputs: Inputs,
        options: tuple[TimeoutTypes | NotGiven, Mapping[str, str] | None, RetryPolicy | None],
        submit: bool,
        resend_unknown: bool,
        poll_interval: float,
        batch: BatchSpend | None = None,
    ) -> RunResult:
        """One input of a batch."""
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
            execution = await self._start(name, inputs, _ASYNC, parse_execution, *options, batch)
            return await self._client.executions.wait(execution, poll_interval=poll_interval)
        return await self._start(name, inputs, None, parse_run_result, *options, batch)

    async def _plan(
        self,
        name: str,
        runs: int,
        max_credits: float | None,
        progress: BatchProgress,
        timeout: TimeoutTypes | NotGiven,
        extra_headers: Mapping[str, str] | None,
    ) -> BatchSpend:
        """A batch's spend control. See `Models._plan`."""
        spend = self._client._spend
        ref = RunRef("model", name)
        return await off_loop(spend.blocking(), plan_batch, spend, ref, runs, max_credits, None)

    async def run_many(
        self,
        name: str,
        inputs_list: Iterable[Inputs],
        *,
        concurrency: int = 8,
        return_exceptions: bool = True,
        progress: BatchProgress = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        journal: JournalSpec | None = None,
        submit: bool = False,
        resend_unknown: bool = False,
        poll_interval: float = 1.0,
        max_credits: float | None = None,
    ) -> BatchResults:
        """Run a model on many inputs, ``concurrency`` at a time. See `Models.run_many`.

        Runs on ``concurrency`` worker tasks; never more are in flight at once.
        """
        check_slug(name, "model name")
        items = list(inputs_list)
        batch = await self._plan(name, len(items), max_credits, progress, timeout, extra_headers)
        book, opened = self._client._batch_journal(journal)
        options = (timeout, extra_headers, retry)
        try:
            outcomes = await run_batch_async(
                lambda inputs: self._run_one(
                    book, name, inputs, options, submit, resend_unknown, poll_interval, batch
                ),
                self._client._keyed_inputs(book, f"models/{name}", items),
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

    async def run(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
    ) -> RunResult:
        """Run a model and wait for its output. See `Models.run`."""
        journal = self._client._journal_for(idempotency_key)
        if journal is None:
            return await self._start(
                name, inputs, None, parse_run_result, timeout, extra_headers, retry
            )
        options = (timeout, extra_headers, retry)
        result: RunResult = await self._journaled(
            journal, name, inputs, idempotency_key, False, options
        )
        return result

    async def submit(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Start a model run asynchronously and return at once. See `Models.submit`."""
        journal = self._client._journal_for(idempotency_key)
        if journal is None:
            return await self._start(
                name, inputs, _ASYNC, parse_execution, timeout, extra_headers, retry
            )
        options = (timeout, extra_headers, retry)
        execution: Execution = await self._journaled(
            journal, name, inputs, idempotency_key, True, options
        )
        return execution
