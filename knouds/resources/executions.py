"""``client.executions``: poll, cancel and wait for async executions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._core import Endpoint, parse_execution
from .._types import NOT_GIVEN, NotGiven, TimeoutTypes
from ..models import Execution

if TYPE_CHECKING:
    from .._client import AsyncClient, Client

__all__ = ["AsyncExecutions", "Executions"]


class Executions:
    """Async executions: ``/api/executions/{id}``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(
        self,
        execution_id: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Execution:
        """The execution's current state (safe to retry: a GET changes nothing).

        Raises:
            ExecutionNotFoundError: no execution with this id is visible to the key.
        """
        ctx = self._client._context(
            Endpoint.execution(execution_id), timeout=timeout, extra_headers=extra_headers
        )
        return self._client._call(ctx, parse_execution)

    def cancel(
        self,
        execution_id: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Execution:
        """Ask Knouds to cancel an in-flight execution; returns its state after the request."""
        ctx = self._client._context(
            Endpoint.execution(execution_id, cancel=True),
            timeout=timeout,
            extra_headers=extra_headers,
        )
        return self._client._call(ctx, parse_execution)


class AsyncExecutions:
    """Async executions, awaited."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(
        self,
        execution_id: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Execution:
        """The execution's current state. See :meth:`Executions.get`."""
        ctx = self._client._context(
            Endpoint.execution(execution_id), timeout=timeout, extra_headers=extra_headers
        )
        return await self._client._call(ctx, parse_execution)

    async def cancel(
        self,
        execution_id: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Execution:
        """Ask Knouds to cancel an in-flight execution. See :meth:`Executions.cancel`."""
        ctx = self._client._context(
            Endpoint.execution(execution_id, cancel=True),
            timeout=timeout,
            extra_headers=extra_headers,
        )
        return await self._client._call(ctx, parse_execution)
