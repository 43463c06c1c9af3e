"""``client.workflows``: run deployed workflows, read their input schema, and manage their
definitions (list, get, create, update, delete)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._batch import BatchProgress, run_batch, run_batch_async
from .._core import (
    Endpoint,
    check_slug,
    encode_inputs,
    parse_execution,
    parse_run_result,
    parse_schema,
)
from .._exceptions import InvalidInputsError
from .._retry import RetryPolicy
from .._types import NOT_GIVEN, Inputs, NotGiven, TimeoutTypes
from ..models import Execution, RunResult, WorkflowSchema
from .workflow_definitions import AsyncWorkflowDefinitions, WorkflowDefinitions

if TYPE_CHECKING:
    from .._client import AsyncClient, Client
    from .._core import Parse
    from .._exceptions import KnoudsError
    from .._journal import Journal, JournalSpec

__all__ = ["AsyncWorkflows", "Workflows", "check_input_names"]

T = TypeVar("T")
_ASYNC = {"async": "true"}
# validate, timeout, extra_headers, retry: how each request of a run is made.
_Options = tuple[bool, TimeoutTypes | NotGiven, Mapping[str, str] | None, RetryPolicy | None]


def check_input_names(slug: str, inputs: Inputs, schema: WorkflowSchema) -> None:
    """Refuse input names that are not fields of the workflow's schema.

    Raises:
        InvalidInputsError: naming the unknown fields and listing the allowed ones.
    """
    allowed = schema.field_names
    unknown = [name for name in inputs if name not in allowed]
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        listing = ", ".join(repr(name) for name in allowed) or "none"
        raise InvalidInputsError(
            f"Workflow {slug!r} has no input field {names}; its fields are: {listing}",
            code="INVALID_INPUTS",
        )


class Workflows(WorkflowDefinitions):
    """Workflows: run them, read their input schema (``/api/workflows/{slug}/...``), and manage
    their definitions (``list``, ``get``, ``create``, ``update``, ``delete``)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _start(
        self,
        slug: str,
        inputs: Inputs,
        params: dict[str, str] | None,
        parse: Parse[T],
        validate: bool,
        timeout: TimeoutTypes | NotGiven,
        extra_headers: Mapping[str, str] | None,
        retry: RetryPolicy | None,
    ) -> T:
        """One run or submission, after the optional check of input names against the schema."""
        content = encode_inputs(inputs)
        if validate:
            schema = self.schema(slug, timeout=timeout, extra_headers=extra_headers)
            check_input_names(slug, inputs, schema)
        ctx = self._client._context(
            Endpoint.workflow_run(slug),
            content=content,
            params=params,
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return self._client._call(ctx, parse)

    def _journaled(
        self,
        journal: Journal,
        slug: str,
        inputs: Inputs,
        key: str | None,
        want_execution: bool,
        options: _Options,
        via_submit: bool = False,
        resend_unknown: bool = False,
        poll_interval: float = 1.0,
    ) -> Any:
        """A run or submission recorded in ``journal`` (sent only if its key is not recorded)."""

        def send(submit: bool) -> RunResult | Execution:
            if submit:
                return self._start(slug, inputs, _ASYNC, parse_execution, *options)
            return self._start(slug, inputs, None, parse_run_result, *options)

        from .._journaled import plan_run

        run = plan_run(
            self._client,
            journal,
            f"workflows/{slug}",
            inputs,
            key,
            send,
            want_execution=want_execution,
            via_submit=via_submit,
            resend_unknown=resend_unknown,
            poll_interval=poll_interval,
        )
        return self._client._journaled(run)

    def _run_one(
        self,
        journal: Journal | None,
        slug: str,
        inputs: Inputs,
        options: _Options,
        submit: bool,
        resend_unknown: bool,
        poll_interval: float,
    ) -> RunResult:
        """One input of a batch."""
        if journal is not None:
            result: RunResult = self._journaled(
                journal, slug, inputs, None, False, options, submit, resend_unknown, poll_interval
            )
            return result
        if submit:
            execution = self._start(slug, inputs, _ASYNC, parse_execution, *options)
            return self._client.executions.wait(execution, poll_interval=poll_interval)
        return self._start(slug, inputs, None, parse_run_result, *options)

    def run_many(
        self,
        slug: str,
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
    ) -> list[RunResult | KnoudsError]:
        """Run a workflow on many inputs, ``concurrency`` at a time; results come in input order.

        Each input goes through `run` (same retries and rate-limit pacing, shared by every
        worker thread).

        Args:
            slug: the workflow's slug.
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
            journal: record the batch in this run journal, to resume it (see
                ``Models.run_many``).
            submit: start each input as an async execution and wait for it (see
                ``Models.run_many``).
            resend_unknown: send inputs whose outcome is unknown again (they may be charged
                twice).
            poll_interval: with ``submit``, seconds between the first polls of each execution.

        Returns:
            One slot per input, in input order: its `RunResult`, or the
            `KnoudsError` it raised.

        Raises:
            InvalidSlugError: ``slug`` is not valid; raised at once, nothing is sent.
            KnoudsError: with ``return_exceptions=False``, the first error an input raised.

        Example:
            >>> inputs = [{"prompt": p} for p in ["a red fox", "a blue whale"]]
            >>> client.workflows.run_many("my-thumbnail-pipeline", inputs)  # doctest: +SKIP
        """
        check_slug(slug, "workflow slug")
        book, opened = self._client._batch_journal(journal)
        options: _Options = (False, timeout, extra_headers, retry)
        try:
            return run_batch(
                lambda inputs: self._run_one(
                    book, slug, inputs, options, submit, resend_unknown, poll_interval
                ),
                self._client._keyed_inputs(book, f"workflows/{slug}", inputs_list),
                concurrency=concurrency,
                return_exceptions=return_exceptions,
                progress=progress,
                description=slug,
            )
        finally:
            if opened and book is not None:
                book.close()

    def run(
        self,
        slug: str,
        inputs: Inputs,
        *,
        validate: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
    ) -> RunResult:
        """Run a workflow and wait for its output.

        Args:
            slug: the workflow's slug, e.g. ``"my-thumbnail-pipeline"``.
            inputs: values for the workflow's Request Input fields (see `schema`).
            validate: first read the schema and refuse input names it does not list (one more
                request; nothing runs when a name is unknown).
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).
            idempotency_key: names this run in the client's journal (see ``Models.run``).

        Raises:
            WorkflowNotFoundError: no workflow of the key's account has this slug.
            InvalidInputsError: ``inputs`` is not a mapping, or (with ``validate=True``) names a
                field the workflow does not have; nothing is run.
        """
        journal = self._client._journal_for(idempotency_key)
        options: _Options = (validate, timeout, extra_headers, retry)
        if journal is None:
            return self._start(slug, inputs, None, parse_run_result, *options)
        result: RunResult = self._journaled(journal, slug, inputs, idempotency_key, False, options)
        return result

    def submit(
        self,
        slug: str,
        inputs: Inputs,
        *,
        validate: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Start a workflow run asynchronously (``?async=true``) and return at once.

        Takes the same arguments as `run`; follow it with ``client.executions.wait``.
        """
        journal = self._client._journal_for(idempotency_key)
        options: _Options = (validate, timeout, extra_headers, retry)
        if journal is None:
            return self._start(slug, inputs, _ASYNC, parse_execution, *options)
        execution: Execution = self._journaled(
            journal, slug, inputs, idempotency_key, True, options
        )
        return execution

    def schema(
        self,
        slug: str,
        *,
        public: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> WorkflowSchema:
        """The workflow's input fields, saved values, name and description.

        Args:
            slug: the workflow's slug.
            public: read the public playground schema instead (sent without the API key; 404
                unless the workflow is a public playground).
            timeout: this call's per-attempt timeout.
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).
        """
        ctx = self._client._context(
            Endpoint.workflow_schema(slug, public=public),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return self._client._call(ctx, parse_schema)

    def public_schema(
        self,
        slug: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> WorkflowSchema:
        """The public playground schema of a workflow, read without the API key.

        Same as ``schema(slug, public=True)``. Works on a client built without any key.

        Raises:
            WorkflowNotFoundError: the workflow does not exist or is not a public playground.
        """
        return self.schema(
            slug, public=True, timeout=timeout, extra_headers=extra_headers, retry=retry
        )


class AsyncWorkflows(AsyncWorkflowDefinitions):
    """Workflows, awaited: the same methods as `Workflows`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _start(
        self,
        slug: str,
        inputs: Inputs,
        params: dict[str, str] | None,
        parse: Parse[T],
        validate: bool,
        timeout: TimeoutTypes | NotGiven,
        extra_headers: Mapping[str, str] | None,
        retry: RetryPolicy | None,
    ) -> T:
        """One run or submission, after the optional check of input names against the schema."""
        content = encode_inputs(inputs)
        if validate:
            schema = await self.schema(slug, timeout=timeout, extra_headers=extra_headers)
            check_input_names(slug, inputs, schema)
        ctx = self._client._context(
            Endpoint.workflow_run(slug),
            content=content,
            params=params,
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await self._client._call(ctx, parse)

    async def _journaled(
        self,
        journal: Journal,
        slug: str,
        inputs: Inputs,
        key: str | None,
        want_execution: bool,
        options: _Options,
        via_submit: bool = False,
        resend_unknown: bool = False,
        poll_interval: float = 1.0,
    ) -> Any:
        """A run or submission recorded in ``journal`` (sent only if its key is not recorded)."""

        async def send(submit: bool) -> RunResult | Execution:
            if submit:
                return await self._start(slug, inputs, _ASYNC, parse_execution, *options)
            return await self._start(slug, inputs, None, parse_run_result, *options)

        from .._journaled import plan_run

        run = plan_run(
            self._client,
            journal,
            f"workflows/{slug}",
            inputs,
            key,
            send,
            want_execution=want_execution,
            via_submit=via_submit,
            resend_unknown=resend_unknown,
            poll_interval=poll_interval,
        )
        return await self._client._journaled(run)

    async def _run_one(
        self,
        journal: Journal | None,
        slug: str,
        inputs: Inputs,
        options: _Options,
        submit: bool,
        resend_unknown: bool,
        poll_interval: float,
    ) -> RunResult:
        """One input of a batch."""
        if journal is not None:
            result: RunResult = await self._journaled(
                journal, slug, inputs, None, False, options, submit, resend_unknown, poll_interval
            )
            return result
        if submit:
            execution = await self._start(slug, inputs, _ASYNC, parse_execution, *options)
            return await self._client.executions.wait(execution, poll_interval=poll_interval)
        return await self._start(slug, inputs, None, parse_run_result, *options)

    async def run_many(
        self,
        slug: str,
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
    ) -> list[RunResult | KnoudsError]:
        """Run a workflow on many inputs, ``concurrency`` at a time. See `Workflows.run_many`.

        Runs on ``concurrency`` worker tasks; never more are in flight at once.
        """
        check_slug(slug, "workflow slug")
        book, opened = self._client._batch_journal(journal)
        options: _Options = (False, timeout, extra_headers, retry)
        try:
            return await run_batch_async(
                lambda inputs: self._run_one(
                    book, slug, inputs, options, submit, resend_unknown, poll_interval
                ),
                self._client._keyed_inputs(book, f"workflows/{slug}", inputs_list),
                concurrency=concurrency,
                return_exceptions=return_exceptions,
                progress=progress,
                description=slug,
            )
        finally:
            if opened and book is not None:
                book.close()

    async def run(
        self,
        slug: str,
        inputs: Inputs,
        *,
        validate: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
    ) -> RunResult:
        """Run a workflow and wait for its output. See `Workflows.run`."""
        journal = self._client._journal_for(idempotency_key)
        options: _Options = (validate, timeout, extra_headers, retry)
        if journal is None:
            return await self._start(slug, inputs, None, parse_run_result, *options)
        result: RunResult = await self._journaled(
            journal, slug, inputs, idempotency_key, False, options
        )
        return result

    async def submit(
        self,
        slug: str,
        inputs: Inputs,
        *,
        validate: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Start a workflow run asynchronously. See `Workflows.submit`."""
        journal = self._client._journal_for(idempotency_key)
        options: _Options = (validate, timeout, extra_headers, retry)
        if journal is None:
            return await self._start(slug, inputs, _ASYNC, parse_execution, *options)
        execution: Execution = await self._journaled(
            journal, slug, inputs, idempotency_key, True, options
        )
        return execution

    async def schema(
        self,
        slug: str,
        *,
        public: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> WorkflowSchema:
        """The workflow's input fields. See `Workflows.schema`."""
        ctx = self._client._context(
            Endpoint.workflow_schema(slug, public=public),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await self._client._call(ctx, parse_schema)

    async def public_schema(
        self,
        slug: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> WorkflowSchema:
        """The public playground schema. See `Workflows.public_schema`."""
        return await self.schema(
            slug, public=True, timeout=timeout, extra_headers=extra_headers, retry=retry
        )
