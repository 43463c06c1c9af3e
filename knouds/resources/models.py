"""``client.models``: run registry models, synchronously or as async executions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from .._batch import BatchProgress, run_batch, run_batch_async
from .._core import Endpoint, check_slug, encode_inputs, parse_execution, parse_run_result
from .._retry import RetryPolicy
from .._types import NOT_GIVEN, Inputs, NotGiven, TimeoutTypes
from ..models import Execution, RunResult

if TYPE_CHECKING:
    from .._client import AsyncClient, Client
    from .._core import Parse
    from .._exceptions import KnoudsError

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
        return self._client._call(ctx, parse)

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
    ) -> list[RunResult | KnoudsError]:
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

        Returns:
            One slot per input, in input order: its `RunResult`, or the
            `KnoudsError` it raised.

        Raises:
            InvalidSlugError: ``name`` is not valid; raised at once, nothing is sent.
            KnoudsError: with ``return_exceptions=False``, the first error an input raised.

        Example:
            >>> inputs = [{"prompt": p} for p in ["a red fox", "a blue whale"]]
            >>> client.models.run_many("gpt-image-2", inputs)  # doctest: +SKIP
        """
        check_slug(name, "model name")
        return run_batch(
            lambda inputs: self.run(
                name, inputs, timeout=timeout, extra_headers=extra_headers, retry=retry
            ),
            inputs_list,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
            progress=progress,
            description=name,
        )

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
        return self._start(name, inputs, None, parse_run_result, timeout, extra_headers, retry)

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
        asynchronously raise `AsyncNotSupportedError`.
        """
        return self._start(name, inputs, _ASYNC, parse_execution, timeout, extra_headers, retry)


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
        return await self._client._call(ctx, parse)

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
    ) -> list[RunResult | KnoudsError]:
        """Run a model on many inputs, ``concurrency`` at a time. See `Models.run_many`.

        Runs on ``concurrency`` worker tasks; never more are in flight at once.
        """
        check_slug(name, "model name")
        return await run_batch_async(
            lambda inputs: self.run(
                name, inputs, timeout=timeout, extra_headers=extra_headers, retry=retry
            ),
            inputs_list,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
            progress=progress,
            description=name,
        )

    async def run(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> RunResult:
        """Run a model and wait for its output. See `Models.run`."""
        return await self._start(
            name, inputs, None, parse_run_result, timeout, extra_headers, retry
        )

    async def submit(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Execution:
        """Start a model run asynchronously and return at once. See `Models.submit`."""
        return await self._start(
            name, inputs, _ASYNC, parse_execution, timeout, extra_headers, retry
        )
