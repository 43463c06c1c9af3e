"""``client.executions``: poll, cancel and wait for async executions.

Every method takes an execution id or the `Execution` that ``submit`` returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..._base.executions import _poll_context
from ..._core.attempt import Endpoint, Sleep, parse_execution
from ..._core.checks import check_call
from ..._core.pipeline import Call
from ..._core.polling import ExecutionRef, Poll, execution_id_of
from ..._core.retry import RetryPolicy
from ..._exceptions import KnoudsError
from ..._types import NOT_GIVEN, NotGiven, TimeoutTypes
from ...models import Execution, RunResult

if TYPE_CHECKING:
    from ..._telemetry import CallWatch
    from ..client import AsyncClient


__all__ = ["AsyncExecutions"]


class AsyncExecutions:
    """Async executions: ``/api/executions/{id}``."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(
        self,
        execution_id: ExecutionRef,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Execution:
        """The execution's current state (safe to retry: a GET changes nothing).

        Args:
            execution_id: the execution's id, or the `Execution` itself.
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).

        Raises:
            ExecutionNotFoundError: no execution with this id is visible to the key, or the id is
                malformed (then nothing is sent).
        """
        ctx = self._client._context(
            Endpoint.execution(execution_id_of(execution_id)),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        # A submission's cost is counted once it is seen ended (the pipeline's Observe).
        execution: Execution = await self._client._perform(
            Call(ctx, parse_execution, observe=self._client._spend)
        )
        return execution

    async def cancel(
        self,
        execution_id: ExecutionRef,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Execution:
        """Ask Knouds to cancel an in-flight execution; returns its state after the request.

        The state is usually ``cancel_requested``; it becomes ``cancelled`` once the provider stops.
        Takes the same ``timeout``, ``extra_headers`` and ``retry`` as `get`; asking twice is
        harmless, so it is retried like a ``GET``.
        """
        ctx = self._client._context(
            Endpoint.execution(execution_id_of(execution_id), cancel=True),
            timeout=timeout,
            extra_headers=extra_headers,
            retry=retry,
        )
        return await self._client._call(ctx, parse_execution)

    async def wait(
        self,
        execution_id: ExecutionRef,
        *,
        timeout: float | None = 600.0,
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> RunResult:
        """Poll until the execution ends and return its result.

        Polls ``GET /api/executions/{id}`` (paced, and retried like any GET), waiting
        ``poll_interval`` seconds first and 1.5 times longer after each poll, up to
        ``max_poll_interval``.

        Args:
            execution_id: the execution's id, or the `Execution` itself.
            timeout: seconds to wait in total; ``None`` waits as long as it takes.
            poll_interval: seconds between the first polls.
            max_poll_interval: the longest wait between two polls.
            extra_headers: headers for each poll.
            retry: each poll's retry policy (default: the client's).

        Returns:
            The completed execution's result, like ``run`` returns it.

        Raises:
            ExecutionFailedError: the execution failed (``code``, ``message``, ``execution``).
            ExecutionCancelledError: the execution was cancelled.
            ExecutionTimeoutError: ``timeout`` ran out; the execution goes on, and
                ``wait(error.execution_id)`` resumes. The wait ends within ``timeout`` (plus a
                fraction of a second) whatever the polls meet: a poll that hits a 429, a
                timeout, a broken connection or a 5xx is tried again while time is left, and
                the error it met becomes this error's ``__cause__``.
            ExecutionNotFoundError: no such execution is visible to the key.

        Example:
            >>> job = client.models.submit("seedance-2-i2v", {"prompt": "waves"})  # doctest: +SKIP
            >>> client.executions.wait(job).videos[0].url  # doctest: +SKIP
        """
        check_call(extra_headers=extra_headers, retry=retry)
        client = self._client
        poll = Poll.start(
            execution_id,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            now=client._clock(),
            secret=client._settings.api_key,
        )
        watch = client._watch_wait(poll.execution_id)
        if watch is None:
            return await self._poll(poll, extra_headers, retry, None)
        try:
            result = await self._poll(poll, extra_headers, retry, watch)
        except BaseException as error:
            watch.end(error=error)
            raise
        watch.end(result)
        return result

    async def _poll(
        self,
        poll: Poll,
        extra_headers: Mapping[str, str] | None,
        retry: RetryPolicy | None,
        watch: CallWatch | None,
    ) -> RunResult:
        """Poll until the execution ends (each poll reports to ``watch``, the wait's span)."""
        client = self._client
        while True:
            ctx = _poll_context(client, poll, extra_headers, retry)
            try:
                execution = await client._perform(
                    Call(ctx, parse_execution, observe=client._spend), watch
                )
            except KnoudsError as error:
                # A closed client stays closed: polling again cannot help.
                pause = None if client.is_closed else poll.after_error(error, client._clock())
                if pause is None:
                    raise
            else:
                result = poll.observe(execution)
                if result is not None:
                    return result
                pause = poll.next_sleep(client._clock())
            if watch is not None:
                watch.slept(Sleep(pause, "poll"))
            await client._sleep(pause)
