"""What the executions resources of both clients share: the context of one poll."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._core.attempt import CallContext, Endpoint
from .._core.polling import Poll
from .._core.retry import RetryPolicy

if TYPE_CHECKING:
    from .client import _BaseClient

__all__: list[str] = []


def _poll_context(
    client: _BaseClient,
    poll: Poll,
    extra_headers: Mapping[str, str] | None,
    retry: RetryPolicy | None,
) -> CallContext:
    """One poll of ``wait``: its timeout and retries bounded by what is left of the wait."""
    now = client._clock()
    return client._context(
        Endpoint.execution(poll.execution_id),
        timeout=poll.poll_timeout(now),
        extra_headers=extra_headers,
        retry=poll.poll_policy(retry if retry is not None else client.retry_policy, now),
    )
