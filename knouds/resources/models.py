"""``client.models``: run registry models, synchronously or as async executions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._core import Endpoint, encode_inputs, parse_execution, parse_run_result
from .._retry import RetryPolicy
from .._types import NOT_GIVEN, Inputs, NotGiven, TimeoutTypes
from ..models import Execution, RunResult

if TYPE_CHECKING:
    from .._client import AsyncClient, Client

__all__ = ["AsyncModels", "Models"]

_ASYNC = {"async": "true"}


class Models:
    """Registry models: ``POST /api/models/{internalName}/run``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def run(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> RunResult:
        """Run a model and wait for its output.

        Args:
            name: the model's internal name, e.g. ``"gpt-image-2"``.
            inputs: the model's parameters, e.g. ``{"prompt": "a red fox"}``.
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).

        Returns:
            The typed result: ``images``, ``videos``, ``audios``, ``text``, ``cost``, ``ms``.

        Raises:
            InvalidSlugError: ``name`` is not a valid model name (nothing is sent).
            InvalidInputsError: ``inputs`` is not a JSON-serialisable mapping (nothing is sent).
            APIStatusError: a subclass for each status and code the API answers.
        """
        ctx = self._client._context(
            Endpoint.model_run(name),
            content=encode_inputs(inputs),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return self._client._call(ctx, parse_run_result)

    def submit(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Execution:
        """Start a model run asynchronously (``?async=true``) and return at once.

        Follow it with ``client.executions.wait(execution.id)``. Models whose provider cannot run
        asynchronously raise :class:`~knouds.AsyncNotSupportedError`.
        """
        ctx = self._client._context(
            Endpoint.model_run(name),
            content=encode_inputs(inputs),
            params=_ASYNC,
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return self._client._call(ctx, parse_execution)


class AsyncModels:
    """Registry models: ``POST /api/models/{internalName}/run``, awaited."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def run(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> RunResult:
        """Run a model and wait for its output. See :meth:`Models.run`."""
        ctx = self._client._context(
            Endpoint.model_run(name),
            content=encode_inputs(inputs),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await self._client._call(ctx, parse_run_result)

    async def submit(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Execution:
        """Start a model run asynchronously and return at once. See :meth:`Models.submit`."""
        ctx = self._client._context(
            Endpoint.model_run(name),
            content=encode_inputs(inputs),
            params=_ASYNC,
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await self._client._call(ctx, parse_execution)
