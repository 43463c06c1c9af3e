"""Workflow definitions (``/api/workflows`` and ``/api/workflows/{slug}``): list, get, create,
update and delete, for `AsyncWorkflows`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..._base.workflow_definitions import (
    _already_gone,
    _definition,
    _ignore_body,
    _watching_retries,
)
from ..._core.attempt import (
    Endpoint,
    encode_workflow,
    parse_workflow,
    parse_workflow_list,
    workflow_echo,
)
from ..._core.checks import check_call
from ..._core.retry import RetryPolicy
from ..._exceptions import WorkflowNotFoundError
from ..._types import NOT_GIVEN, NotGiven, TimeoutTypes
from ...models import Workflow, WorkflowSummary

if TYPE_CHECKING:
    from ..client import AsyncClient


__all__ = ["AsyncWorkflowDefinitions"]


class AsyncWorkflowDefinitions:
    """The definition methods of ``client.workflows``."""

    _client: AsyncClient

    async def list(
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
            >>> [w.slug for w in await client.workflows.list()]  # doctest: +SKIP
            ['my-pipeline', 'my-thumbnail-pipeline']
        """
        ctx = self._client._context(
            Endpoint.workflow_list(), timeout=timeout, extra_headers=extra_headers, retry=retry
        )
        summaries = await self._client._call(ctx, parse_workflow_list)
        self._client._spend.publish_listing(summaries)  # estimates for the credit budget
        return summaries

    async def get(
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
            InvalidBodyError: a value is not JSON-serialisable or an argument has the wrong
                shape (a string for ``tags``, nodes that are not mappings...; nothing is sent),
                or the server refused the body.
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
        """Change a workflow (``PUT /api/workflows/{slug}``); only the arguments given are sent.

        The slug never changes, even with a new name. Needs ``workflow:write`` and ownership on
        newer keys (no admin override), the ``admin`` scope on older ones. The answer is read
        like `create`'s; an answer without the workflow gives the fields sent plus the slug.
        Sending the same ``PUT`` twice leaves the same workflow, so like a ``GET`` it is retried
        after read timeouts and 502/503/504.

        Args:
            slug: the workflow's slug.
            name: a new display name (the slug stays).
            description: a new description.
            tags: new tags.
            nodes: new canvas nodes, plain JSON data, as in `create`.
            edges: new connections, plain JSON data, as in `create`.
            viewport: a new ``{"x": ..., "y": ..., "zoom": ...}``.
            public_playground: sent as ``publicPlayground``, as in `create`.
            extra_body: more fields, sent as given (the API's own names).
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
        return await self._client._call(ctx, workflow_echo(fields, slug))

    async def delete(
        self,
        slug: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Delete a workflow (``DELETE /api/workflows/{slug}``); any 2xx answer counts as done.

        Same permissions as `update`. Retried like a ``GET``: when an attempt whose outcome is
        unknown (a read timeout, a 5xx) is retried and the retry finds the workflow gone, that
        attempt deleted it, and ``delete`` returns normally.

        Args:
            slug: the workflow's slug.
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).

        Raises:
            WorkflowNotFoundError: no workflow the key's account owns has this slug.
        """
        check_call(timeout=timeout, extra_headers=extra_headers, retry=retry)
        policy, retries = _watching_retries(retry if retry is not None else self._client._policy)
        ctx = self._client._context(
            Endpoint.workflow_definition(slug, "DELETE"),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=policy,
        )
        try:
            await self._client._call(ctx, _ignore_body)
        except WorkflowNotFoundError:
            if not _already_gone(retries):
                raise
