"""``client.workflows``: run deployed workflows, read their input schema, and manage their
definitions (list, get, create, update, delete)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, cast

from ..._base.batch import BatchProgress
from ..._base.checks import check_journal_spec
from ..._base.runs import RunOptions
from ..._base.workflows import (
    RefusedInputs,
    _total,
    _wants_estimate,
    check_workflow_inputs,
)
from ..._core.attempt import Endpoint, parse_schema
from ..._core.checks import check_batch, check_call, check_count
from ..._core.inputs import InputRules, input_error
from ..._core.retry import RetryPolicy
from ..._exceptions import APIStatusError, InvalidInputsError, PermissionDeniedError
from ..._stores.usage import BatchResults
from ..._types import NOT_GIVEN, Inputs, NotGiven, TimeoutTypes
from ...models import Execution, RunResult, WorkflowSchema
from ._runs import AsyncRuns
from .workflow_definitions import AsyncWorkflowDefinitions

if TYPE_CHECKING:
    from ..._stores.journal import JournalSpec
    from ..client import AsyncClient


__all__ = ["AsyncWorkflows"]


class AsyncWorkflows(AsyncRuns, AsyncWorkflowDefinitions):
    """Workflows: run them, read their input schema (``/api/workflows/{slug}/...``), and manage
    their definitions (``list``, ``get``, ``create``, ``update``, ``delete``)."""

    _kind = "workflows"

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def _checks(self, options: RunOptions) -> bool:
        """Whether this call checks inputs against the cached schema (``check_inputs``)."""
        wanted = options.check_inputs
        return self._client._check_inputs if wanted is None else wanted

    async def _check_inputs(self, name: str, inputs: Inputs, options: RunOptions) -> None:
        """Refuse inputs the workflow's schema shows a mistake in: with ``validate``, read the
        schema for this call; with ``check_inputs``, the client's cached one."""
        if options.validate:
            schema = await self.schema(
                name, timeout=options.timeout, extra_headers=options.extra_headers
            )
            self._client._schemas.store(name, schema)
            check_workflow_inputs(name, inputs, schema)
            _total(self._client, name, schema, 1)  # remember the published estimate
        elif self._checks(options):
            rules = await self._input_rules(name, options)
            error = None if rules is None else input_error(name, inputs, rules)
            if error is not None:
                raise error

    async def _input_rules(self, name: str, options: RunOptions) -> InputRules | None:
        """The workflow's input rules, read once per client; ``None`` when the key may not read
        its schema (its inputs then go unchecked, with one warning)."""
        cache = self._client._schemas
        known, rules = cache.lookup(name)
        if known:
            return rules
        try:
            schema = await self.schema(
                name, timeout=options.timeout, extra_headers=options.extra_headers
            )
        except PermissionDeniedError as error:  # e.g. a key without workflow:read
            cache.unreadable(name, error)
            return None
        _total(self._client, name, schema, 1)  # remember the published estimate
        return cache.store(name, schema)

    async def _screen(
        self, name: str, items: list[Inputs], options: RunOptions, return_exceptions: bool
    ) -> list[Inputs]:
        """With ``check_inputs``, a batch's inputs with those the check refuses replaced by a
        `RefusedInputs` (or, with ``return_exceptions=False``, the first refusal raised)."""
        if not self._checks(options) or not items:
            return items
        rules = await self._input_rules(name, options)
        if rules is None:
            return items
        screened: list[Inputs] = []
        for index, inputs in enumerate(items):
            error = input_error(name, inputs, rules, index) if isinstance(inputs, Mapping) else None
            if error is not None and not return_exceptions:
                raise error
            screened.append(inputs if error is None else cast("Inputs", RefusedInputs(error)))
        return screened

    def _refused(self, name: str, options: RunOptions, error: InvalidInputsError) -> None:
        """The server refused inputs the check let through: its schema has changed."""
        if error.status_code is not None and (options.validate or self._checks(options)):
            self._client._schemas.forget(name)

    async def _estimate_each(
        self,
        name: str,
        max_credits: float | None,
        progress: BatchProgress,
        options: RunOptions,
    ) -> float | None:
        """The schema's estimate of one run, read only when something uses it."""
        if not _wants_estimate(self._client, max_credits, progress):
            return None
        try:
            schema = await self.schema(
                name, timeout=options.timeout, extra_headers=options.extra_headers
            )
        except APIStatusError:  # e.g. a key that may run the workflow but not read it
            return None
        return schema.estimated_credit_cost

    async def estimate(
        self,
        slug: str,
        runs: int = 1,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> float | None:
        """The credits Knouds estimates ``runs`` runs of a workflow will cost, before running it.

        Reads the schema's ``estimatedCreditCost`` (one request, nothing is charged).

        Args:
            slug: the workflow's slug.
            runs: how many runs to estimate.
            timeout: this call's per-attempt timeout.
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).

        Returns:
            The estimated total, or ``None`` when Knouds publishes no estimate for it.

        Example:
            >>> await client.workflows.estimate("my-thumbnail-pipeline", runs=20)  # doctest: +SKIP
            100.0
        """
        check_count(runs, "runs")
        schema = await self.schema(slug, timeout=timeout, extra_headers=extra_headers, retry=retry)
        return _total(self._client, slug, schema, runs)

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
        max_credits: float | None = None,
        check_inputs: bool | None = None,
    ) -> BatchResults:
        """Run a workflow on many inputs, ``concurrency`` at a time; results come in input order.

        Each input goes through `run` (same retries and rate-limit pacing, shared by every
        worker task).

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
                ``AsyncModels.run_many``).
            submit: start each input as an async execution and wait for it (see
                ``AsyncModels.run_many``).
            resend_unknown: send inputs whose outcome is unknown again (they may be charged
                twice).
            poll_interval: with ``submit``, seconds between the first polls of each execution.
            max_credits: the most credits this batch may spend, on top of the client's
                ``budget``: once spent, the remaining inputs get `BudgetExceededError`
                and are not sent. With a progress bar, the credits charged so far and the
                projected total of the batch are shown after the first result.
                For a workflow, its published estimate (``estimatedCreditCost``) times the
                number of inputs is compared with it first: a batch estimated above it is
                refused whole, before anything runs.
            check_inputs: check every input against the workflow's schema first (``None``: the
                client's setting; see `run`). Inputs with a mistake are not sent: their slots
                hold the `InvalidInputsError`, naming the input's index, and the others run
                (with ``return_exceptions=False``, the first one is raised and nothing runs).

        Returns:
            One slot per input, in input order: its `RunResult`, or the
            `KnoudsError` it raised; ``.usage`` tells what the batch cost and ``.estimate``
            what it was estimated at.

        Raises:
            InvalidSlugError: ``slug`` is not valid; raised at once, nothing is sent.
            ConfigurationError: a bad setting (``concurrency``, ``max_credits``,
                ``poll_interval``, ``journal``, ``timeout``, ``retry``...); raised at once,
                nothing is sent.
            BudgetExceededError: the batch's estimate exceeds ``max_credits``; nothing is sent.
            InvalidInputsError: with ``check_inputs`` and ``return_exceptions=False``, an input
                has a mistake; nothing is sent.
            KnoudsError: with ``return_exceptions=False``, the first error an input raised.

        Example:
            >>> inputs = [{"prompt": p} for p in ["a red fox", "a blue whale"]]
            >>> await client.workflows.run_many("my-thumbnail-pipeline", inputs)  # doctest: +SKIP
        """
        check_call(timeout=timeout, extra_headers=extra_headers, retry=retry)
        check_batch(concurrency, poll_interval, max_credits)
        check_journal_spec(journal)
        options = RunOptions(False, timeout, extra_headers, retry, check_inputs)
        return await self._run_many(
            slug,
            inputs_list,
            options,
            concurrency,
            return_exceptions,
            progress,
            journal,
            submit,
            resend_unknown,
            poll_interval,
            max_credits,
        )

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
        check_inputs: bool | None = None,
    ) -> RunResult:
        """Run a workflow and wait for its output.

        Args:
            slug: the workflow's slug, e.g. ``"my-thumbnail-pipeline"``.
            inputs: values for the workflow's Request Input fields (see `schema`).
            validate: read the schema for this call (one more request) and check the inputs
                against it, as ``check_inputs`` does; a schema that cannot be read fails the call.
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).
            idempotency_key: names this run in the client's journal (see ``AsyncModels.run``).
            check_inputs: check the inputs against the workflow's schema before sending
                (``None``: the client's ``check_inputs``). The schema is read once per client
                and workflow, then cached. Refused: a name the schema does not list (with the
                closest one suggested), a value outside a field's options or its ``min``/``max``,
                a value of the wrong type where the field's type says (text, number, toggle). A
                key that may not read the schema (403) turns the check off for that workflow,
                with one warning on the ``knouds`` logger.

        Raises:
            WorkflowNotFoundError: no workflow of the key's account has this slug.
            InvalidInputsError: ``inputs`` is not a mapping, or (with ``validate`` or
                ``check_inputs``) the schema shows a mistake in it; then ``status_code`` is
                ``None`` and nothing is sent.
        """
        check_call(timeout=timeout, extra_headers=extra_headers, retry=retry)
        options = RunOptions(validate, timeout, extra_headers, retry, check_inputs)
        return await self._run(slug, inputs, options, idempotency_key)

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
        check_inputs: bool | None = None,
    ) -> Execution:
        """Start a workflow run asynchronously (``?async=true``) and return at once.

        Takes the same arguments as `run` (``check_inputs`` included); follow it with
        ``client.executions.wait``.
        """
        check_call(timeout=timeout, extra_headers=extra_headers, retry=retry)
        options = RunOptions(validate, timeout, extra_headers, retry, check_inputs)
        return await self._submit(slug, inputs, options, idempotency_key)

    async def schema(
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
        return await self._client._call(ctx, parse_schema)

    async def public_schema(
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
        return await self.schema(
            slug, public=True, timeout=timeout, extra_headers=extra_headers, retry=retry
        )
