"""``client.workflows``: run deployed workflows and read their input schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._core import Endpoint, encode_inputs, parse_execution, parse_run_result, parse_schema
from .._retry import RetryPolicy
from .._types import NOT_GIVEN, Inputs, NotGiven, TimeoutTypes
from ..models import Execution, RunResult, WorkflowSchema

if TYPE_CHECKING:
    from .._client import AsyncClient, Client

__all__ = ["AsyncWorkflows", "Workflows"]

_ASYNC = {"async": "true"}


class Workflows:
    """Deployed workflows: ``/api/workflows/{slug}/...``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def run(
        self,
        slug: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> RunResult:
        """Run a workflow and wait for its output.

        Args:
            slug: the workflow's slug, e.g. ``"my-thumbnail-pipeline"``.
            inputs: values for the workflow's Request Input fields (see :meth:`schema`).
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).

        Raises:
            WorkflowNotFoundError: no workflow of the key's account has this slug.
        """
        ctx = self._client._context(
            Endpoint.workflow_run(slug),
            content=encode_inputs(inputs),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return self._client._call(ctx, parse_run_result)

    def submit(
        self,
        slug: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Execution:
        """Start a workflow run asynchronously (``?async=true``) and return at once."""
        ctx = self._client._context(
            Endpoint.workflow_run(slug),
            content=encode_inputs(inputs),
            params=_ASYNC,
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return self._client._call(ctx, parse_execution)

    def schema(
        self,
        slug: str,
        *,
        public: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
    ) -> WorkflowSchema:
        """The workflow's input fields, saved values, name and description.

        Args:
            slug: the workflow's slug.
            public: read the public playground schema instead (sent without the API key; 404
                unless the workflow is a public playground).
            timeout: this call's per-attempt timeout.
            extra_headers: headers for this call only.
        """
        ctx = self._client._context(
            Endpoint.workflow_schema(slug, public=public),
            timeout=timeout,
            extra_headers=extra_headers,
        )
        return self._client._call(ctx, parse_schema)


class AsyncWorkflows:
    """Deployed workflows, awaited."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def run(
        self,
        slug: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> RunResult:
        """Run a workflow and wait for its output. See :meth:`Workflows.run`."""
        ctx = self._client._context(
            Endpoint.workflow_run(slug),
            content=encode_inputs(inputs),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await self._client._call(ctx, parse_run_result)

    async def submit(
        self,
        slug: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Execution:
        """Start a workflow run asynchronously. See :meth:`Workflows.submit`."""
        ctx = self._client._context(
            Endpoint.workflow_run(slug),
            content=encode_inputs(inputs),
            params=_ASYNC,
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await self._client._call(ctx, parse_execution)

    async def schema(
        self,
        slug: str,
        *,
        public: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
    ) -> WorkflowSchema:
        """The workflow's input fields. See :meth:`Workflows.schema`."""
        ctx = self._client._context(
            Endpoint.workflow_schema(slug, public=public),
            timeout=timeout,
            extra_headers=extra_headers,
        )
        return await self._client._call(ctx, parse_schema)
