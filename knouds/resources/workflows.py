"""``client.workflows``: run deployed workflows, read their input schema, and manage their
definitions (list, get, create, update, delete)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

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

__all__ = ["AsyncWorkflows", "Workflows", "check_input_names"]

T = TypeVar("T")
_ASYNC = {"async": "true"}


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
        return run_batch(
            lambda inputs: self.run(
                slug, inputs, timeout=timeout, extra_headers=extra_headers, retry=retry
            ),
            inputs_list,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
            progress=progress,
            description=slug,
        )

    def run(
        self,
        slug: str,
        inputs: Inputs,
        *,
        validate: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
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

        Raises:
            WorkflowNotFoundError: no workflow of the key's account has this slug.
            InvalidInputsError: ``inputs`` is not a mapping, or (with ``validate=True``) names a
                field the workflow does not have; nothing is run.
        """
        return self._start(
            slug, inputs, None, parse_run_result, validate, timeout, extra_headers, retry
        )

    def submit(
        self,
        slug: str,
        inputs: Inputs,
        *,
        validate: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Execution:
        """Start a workflow run asynchronously (``?async=true``) and return at once.

        Takes the same arguments as `run`; follow it with ``client.executions.wait``.
        """
        return self._start(
            slug, inputs, _ASYNC, parse_execution, validate, timeout, extra_headers, retry
        )

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
    ) -> list[RunResult | KnoudsError]:
        """Run a workflow on many inputs, ``concurrency`` at a time. See `Workflows.run_many`.

        Runs on ``concurrency`` worker tasks; never more are in flight at once.
        """
        check_slug(slug, "workflow slug")
        return await run_batch_async(
            lambda inputs: self.run(
                slug, inputs, timeout=timeout, extra_headers=extra_headers, retry=retry
            ),
            inputs_list,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
            progress=progress,
            description=slug,
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
    ) -> RunResult:
        """Run a workflow and wait for its output. See `Workflows.run`."""
        return await self._start(
            slug, inputs, None, parse_run_result, validate, timeout, extra_headers, retry
        )

    async def submit(
        self,
        slug: str,
        inputs: Inputs,
        *,
        validate: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Execution:
        """Start a workflow run asynchronously. See `Workflows.submit`."""
        return await self._start(
            slug, inputs, _ASYNC, parse_execution, validate, timeout, extra_headers, retry
        )

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
