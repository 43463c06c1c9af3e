"""``client.workflows``: run deployed workflows, read their input schema, and manage their
definitions (list, get, create, update, delete)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .._batch import BatchProgress, run_batch, run_batch_async
from .._core import (
    Endpoint,
    check_slug,
    encode_inputs,
    encode_workflow,
    parse_execution,
    parse_run_result,
    parse_schema,
    parse_workflow,
    parse_workflow_list,
    workflow_echo,
)
from .._exceptions import InvalidInputsError
from .._retry import RetryPolicy
from .._types import NOT_GIVEN, Inputs, NotGiven, TimeoutTypes
from ..models import Execution, RunResult, Workflow, WorkflowSchema, WorkflowSummary

if TYPE_CHECKING:
    from .._client import AsyncClient, Client
    from .._core import Parse
    from .._exceptions import KnoudsError
    from .._ratelimit import RateLimit

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
    """The fields given (``None`` means "not given"), in the API's names."""
    given: dict[str, object] = {
        "name": name,
        "description": description,
        "tags": None if tags is None else list(tags),
        "nodes": None if nodes is None else [dict(n) for n in nodes],
        "edges": None if edges is None else [dict(e) for e in edges],
        "viewport": None if viewport is None else dict(viewport),
        "publicPlayground": public_playground,
    }
    fields = {k: v for k, v in given.items() if v is not None}
    fields.update(extra_body or {})
    return fields


def _ignore_body(body: object, rate_limit: RateLimit | None) -> None:
    return None


class Workflows:
    """Deployed workflows: ``/api/workflows/{slug}/...``."""

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

    # -- definitions ---------------------------------------------------------------------------

    def list(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[WorkflowSummary]:
        """The workflows the key can see: its account's own, and templates shared platform-wide.

        ``GET /api/workflows`` (needs ``workflow:read`` on newer keys; any scope on older ones).
        Retried like every ``GET``.

        Args:
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).

        Returns:
            One `WorkflowSummary` per workflow, in the server's order.

        Example:
            >>> [w.slug for w in client.workflows.list()]  # doctest: +SKIP
            ['my-pipeline', 'my-thumbnail-pipeline']
        """
        ctx = self._client._context(
            Endpoint.workflow_list(), timeout=timeout, extra_headers=extra_headers, retry=retry
        )
        return self._client._call(ctx, parse_workflow_list)

    def get(
        self,
        slug: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Workflow:
        """The whole workflow (nodes, edges, viewport), in the shape `create` accepts.

        ``GET /api/workflows/{slug}``; retried like every ``GET``.

        Args:
            slug: the workflow's slug.
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).

        Raises:
            WorkflowNotFoundError: no workflow visible to the key has this slug.
            InvalidSlugError: ``slug`` is not a valid slug; nothing is sent.
        """
        ctx = self._client._context(
            Endpoint.workflow_definition(slug),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return self._client._call(ctx, parse_workflow)

    def create(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        nodes: Sequence[Mapping[str, Any]] | None = None,
        edges: Sequence[Mapping[str, Any]] | None = None,
        viewport: Mapping[str, Any] | None = None,
        public_playground: bool | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Workflow:
        """Create a workflow (``POST /api/workflows``); the server picks its permanent slug.

        The slug is the name slugified (``"My flow"`` -> ``my-flow``; ``my-flow-2``, ``-3``...
        when taken; a blank name becomes "Untitled workflow"). Needs ``workflow:write`` on newer
        keys, the ``admin`` scope on older ones. Arguments left as ``None`` are not sent.

        The answer's shape is not documented. The SDK assumes it is the workflow or part of it
        with at least its ``slug`` (bare, or inside ``{"workflow": ...}``), and fills what it
        leaves out from what was sent. Like a run, ``create`` is never re-sent after an unknown
        outcome (a read timeout, a 5xx): a second ``POST`` would make a second workflow.

        Args:
            name: the display name, also the source of the slug.
            description: a description.
            tags: tags.
            nodes: canvas nodes, plain JSON data (``id``, ``type``, ``position``, ``data``).
            edges: connections, plain JSON data (``id``, ``source``, ``target``,
                ``sourceHandle``, ``targetHandle``).
            viewport: ``{"x": ..., "y": ..., "zoom": ...}``.
            public_playground: sent as ``publicPlayground``: make the schema readable without a
                key (`public_schema`).
            extra_body: more fields, sent as given (the API's own names).
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).

        Returns:
            The new workflow, with its slug.

        Raises:
            InvalidBodyError: a value is not JSON-serialisable (nothing is sent), or the server
                refused the body.
            ScopeDeniedError, CapabilityDeniedError: the key may not write workflows.

        Example:
            >>> flow = client.workflows.create(name="My flow", nodes=[], edges=[])  # doctest: +SKIP
            >>> copy = client.workflows.create(**client.workflows.get(flow.slug))  # doctest: +SKIP
        """
        fields = _definition(
            name, description, tags, nodes, edges, viewport, public_playground, extra_body
        )
        ctx = self._client._context(
            Endpoint.workflow_create(),
            content=encode_workflow(fields),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return self._client._call(ctx, workflow_echo(fields))

    def update(
        self,
        slug: str,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        nodes: Sequence[Mapping[str, Any]] | None = None,
        edges: Sequence[Mapping[str, Any]] | None = None,
        viewport: Mapping[str, Any] | None = None,
        public_playground: bool | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Workflow:
        """Change a workflow (``PUT /api/workflows/{slug}``); only the arguments given are sent.

        The slug never changes, even with a new name. Needs ``workflow:write`` and ownership on
        newer keys (no admin override), the ``admin`` scope on older ones. The answer is read
        like `create`'s; an answer without the workflow gives the fields sent plus the slug.
        Sending the same ``PUT`` twice leaves the same workflow, so like a ``GET`` it is retried
        after read timeouts and 502/503/504.

        Args:
            slug: the workflow's slug.
            name, description, tags, nodes, edges, viewport, public_playground, extra_body:
                as in `create`.
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).

        Raises:
            WorkflowNotFoundError: no workflow the key's account owns has this slug.
            CapabilityDeniedError, ScopeDeniedError: the key may not write workflows.
        """
        fields = _definition(
            name, description, tags, nodes, edges, viewport, public_playground, extra_body
        )
        ctx = self._client._context(
            Endpoint.workflow_definition(slug, "PUT"),
            content=encode_workflow(fields),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return self._client._call(ctx, workflow_echo(fields, slug))

    def delete(
        self,
        slug: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Delete a workflow (``DELETE /api/workflows/{slug}``); any 2xx answer counts as done.

        Same permissions as `update`. Retried like a ``GET``: if a retried attempt finds the
        workflow already gone, the earlier attempt deleted it and `WorkflowNotFoundError` is
        raised; catch it when "already gone" is fine.

        Args:
            slug: the workflow's slug.
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).

        Raises:
            WorkflowNotFoundError: no workflow the key's account owns has this slug.
        """
        ctx = self._client._context(
            Endpoint.workflow_definition(slug, "DELETE"),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        self._client._call(ctx, _ignore_body)


class AsyncWorkflows:
    """Deployed workflows, awaited."""

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

    # -- definitions ---------------------------------------------------------------------------

    async def list(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[WorkflowSummary]:
        """The workflows the key can see. See `Workflows.list`."""
        ctx = self._client._context(
            Endpoint.workflow_list(), timeout=timeout, extra_headers=extra_headers, retry=retry
        )
        return await self._client._call(ctx, parse_workflow_list)

    async def get(
        self,
        slug: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Workflow:
        """The whole workflow. See `Workflows.get`."""
        ctx = self._client._context(
            Endpoint.workflow_definition(slug),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await self._client._call(ctx, parse_workflow)

    async def create(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        nodes: Sequence[Mapping[str, Any]] | None = None,
        edges: Sequence[Mapping[str, Any]] | None = None,
        viewport: Mapping[str, Any] | None = None,
        public_playground: bool | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Workflow:
        """Create a workflow. See `Workflows.create`."""
        fields = _definition(
            name, description, tags, nodes, edges, viewport, public_playground, extra_body
        )
        ctx = self._client._context(
            Endpoint.workflow_create(),
            content=encode_workflow(fields),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await self._client._call(ctx, workflow_echo(fields))

    async def update(
        self,
        slug: str,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        nodes: Sequence[Mapping[str, Any]] | None = None,
        edges: Sequence[Mapping[str, Any]] | None = None,
        viewport: Mapping[str, Any] | None = None,
        public_playground: bool | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Workflow:
        """Change a workflow. See `Workflows.update`."""
        fields = _definition(
            name, description, tags, nodes, edges, viewport, public_playground, extra_body
        )
        ctx = self._client._context(
            Endpoint.workflow_definition(slug, "PUT"),
            content=encode_workflow(fields),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await self._client._call(ctx, workflow_echo(fields, slug))

    async def delete(
        self,
        slug: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Delete a workflow. See `Workflows.delete`."""
        ctx = self._client._context(
            Endpoint.workflow_definition(slug, "DELETE"),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        await self._client._call(ctx, _ignore_body)
