"""The in-process pacer: the last rate-limit state per bucket, and slots counted in flight.

Before each request `Pacer` decides whether the rate-limit window still has room, counting the
requests already in flight; when it has none, the caller waits until the window resets instead of
collecting a 429. It is the store of pacing within one process (shared by a client's threads,
tasks and copies, behind one lock); ``pacing.SharedPacing`` keeps the same counts in Redis.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .._types import Clock
from ..models._ratelimit import (
    _RESET_MARGIN,
    _UNKNOWN_RESET_POLL,
    RateLimit,
)

__all__ = ["Pacer", "Ticket"]


@dataclass(eq=False)
class Ticket:
    """A reserved slot in a bucket's rate-limit window, handed back with `Pacer.release`."""

    bucket: str
    seq: int


@dataclass
class _Bucket:
    limit: int | None = None
    server_reset: float | None = None  # the newest window a response has told us about
    local_reset: float | None = None  # None: that window is over and the next reset is unknown
    sent: int = 0  # our requests that count against the current window
    external: int = 0  # requests others (another process with the same key) spent in it
    in_flight: set[int] = field(default_factory=set)
    last: RateLimit | None = None
    learnt_at: int = 0  # the last ticket issued when server_reset was learnt

    def budget(self) -> int:
        assert self.limit is not None
        return self.limit - self.sent - self.external


class Pacer:
    """Per-bucket rate-limit state shared by every thread and task using one client.

    What is left of a window is counted locally: ``limit`` minus the requests this client sent in
    the window (a request still in flight when a window rolls over is counted in the new one too,
    since it may land there), minus what the server's ``remaining`` shows that others spent. The
    local count does not depend on the order in which concurrent requests reach the server, so
    many threads or tasks cannot overspend the window between two responses.

    All methods are non-blocking and guarded by one ``threading.Lock``, so the same object serves
    the sync and the async client; the callers do the waiting. The clock is injectable.
    """

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._seq = 0

    def acquire(self, bucket: str, *, pace: bool = True) -> tuple[Ticket | None, float]:
        """Reserve a slot in ``bucket`` or say how long to wait.

        Returns ``(ticket, 0.0)`` when the request may go now, else ``(None, seconds)``: wait that
        long, then ask again. With ``pace=False`` a slot is always granted (the request is still
        counted, so paced users of the same state stay accurate).
        """
        with self._lock:
            state = self._buckets.setdefault(bucket, _Bucket())
            if state.limit is not None:
                now = self._clock()
                if state.local_reset is not None and now >= state.local_reset + _RESET_MARGIN:
                    # The window rolled over; the next reset is learnt from the next response.
                    state.local_reset = None
                    state.sent = len(state.in_flight)
                    state.external = 0
                if pace and state.budget() <= 0:
                    if state.local_reset is None:
                        if not state.in_flight:
                            # Nothing in flight will tell us the new window (those requests
                            # failed without headers): start counting afresh and learn again.
                            state.sent = 0
                            state.external = 0
                            return self._grant(state, bucket)
                        return None, _UNKNOWN_RESET_POLL
                    return None, max(state.local_reset + _RESET_MARGIN - now, 0.001)
            return self._grant(state, bucket)

    def _grant(self, state: _Bucket, bucket: str) -> tuple[Ticket, float]:
        state.sent += 1
        self._seq += 1
        state.in_flight.add(self._seq)
        return Ticket(bucket, self._seq), 0.0

    def release(self, ticket: Ticket, rate_limit: RateLimit | None) -> None:
        """Hand a slot back once its response (or failure) is in, learning from its headers.

        A response from a newer window starts counting that window; one from the current window
        only reveals requests spent by others; one from an older window is ignored, unless its
        request was sent after that window was learnt: then the earlier answer was wrong, and
        the newer one corrects it.
        """
        with self._lock:
            state = self._buckets.setdefault(ticket.bucket, _Bucket())
            state.in_flight.discard(ticket.seq)
            if rate_limit is None:
                return
            sent_later = ticket.seq > state.learnt_at
            if (
                state.server_reset is not None
                and rate_limit.reset < state.server_reset
                and not sent_later
            ):
                return
            state.limit = rate_limit.limit
            state.last = rate_limit
            if state.server_reset is None or rate_limit.reset != state.server_reset:
                state.learnt_at = self._seq
                if state.local_reset is not None:
                    # The server rolled over before our clock did: this request and any still
                    # in flight are all that can count in the new window.
                    state.sent = len(state.in_flight) + 1
                state.server_reset = rate_limit.reset
                state.local_reset = rate_limit.local_reset
                state.external = 0
            elif state.local_reset is None:
                return  # a straggler of the window we already rolled past
            spent_by_server = rate_limit.limit - rate_limit.remaining
            state.external = max(state.external, spent_by_server - state.sent)

    def snapshot(self) -> dict[str, RateLimit]:
        """The last rate-limit state each bucket reported."""
        with self._lock:
            return {name: b.last for name, b in self._buckets.items() if b.last is not None}

    def budget(self, bucket: str) -> int | None:
        """Requests the pacer will still let through in ``bucket``'s current window, or ``None``
        when it has not learnt the bucket's limit yet."""
        with self._lock:
            state = self._buckets.get(bucket)
            return state.budget() if state is not None and state.limit is not None else None
