"""Rate-limit headers, ``Retry-After`` parsing and client-side pacing. Pure: stdlib only, no I/O.

Knouds counts requests per key, per route family and per fixed window, and tells the client where
it stands on every response (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` as a Unix epoch
second). `Pacer` remembers that per bucket and, before each request, decides whether the
current rate-limit window still has room, counting requests already in flight. When it has none,
the caller waits until the window resets instead of collecting a 429.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from ._public import publish
from ._types import Clock

__all__ = [
    "Pacer",
    "RateLimit",
    "Ticket",
    "clock_offset",
    "parse_http_date",
    "parse_retry_after",
]

# The ``Date`` header has one-second resolution: a difference within this many seconds of zero is
# rounding and latency, not clock skew.
_SKEW_THRESHOLD = 1.5
# Arrive this long after the computed reset, so a request never lands a hair before the window
# rolls over on the server.
_RESET_MARGIN = 0.05
# The last second of year 9999: a reset beyond it is garbage, not a time.
_LATEST_EPOCH = 253_402_300_799
# Knouds windows last a minute. A reset further ahead than this (on this machine's clock, after
# skew correction) is a broken header, not a time: trusting it would refuse every call locally
# until then, and no later response could correct it.
_PLAUSIBLE_RESET_AHEAD = 3600.0
# How long to wait before asking again when the window is used up but the next reset is unknown
# (a response is in flight that will tell).
_UNKNOWN_RESET_POLL = 0.05


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_http_date(value: str | None) -> float | None:
    """An RFC 9110 HTTP-date as epoch seconds, or ``None`` when it does not parse."""
    if not value:
        return None
    return _parse_http_date(value)


# Every response carries a ``Date`` with one-second resolution, so under load most responses
# repeat the previous value: remembering a few parses skips the email-date parser.
@functools.lru_cache(maxsize=32)
def _parse_http_date(value: str) -> float | None:
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:  # pragma: no cover - older Pythons returned None instead of raising
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError):  # pragma: no cover - out-of-range dates
        return None


def clock_offset(date_header: str | None, local_now: float) -> float:
    """Seconds the server's clock is ahead of ours, judged from a response ``Date`` header.

    ``Date`` is truncated to the second and was written before the response travelled, so
    ``Date - local_now`` under-states the true offset by up to a second plus latency: using it
    places the reset on our clock slightly *late*, never early. Differences within rounding of
    zero count as no skew. Returns ``0.0`` when the header is missing or malformed.
    """
    server = parse_http_date(date_header)
    if server is None:
        return 0.0
    offset = server - local_now
    return offset if not -_SKEW_THRESHOLD <= offset <= _SKEW_THRESHOLD / 2 else 0.0


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After``; ``None`` when absent or
    unusable.

    ``Retry-After`` may be delta-seconds (fractions accepted) or an HTTP-date; an HTTP-date is
    measured against the response's ``Date`` header when present (the server's own clock), else
    against ``now``. A date in the past gives ``0.0``; negative, non-finite or garbage values give
    ``None`` so the caller falls back to its next source. Huge values are returned as they are:
    the caller decides whether it is willing to wait that long.
    """
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None and millis >= 0:
        return millis / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    when = parse_http_date(raw)
    if when is None:
        return None
    reference = parse_http_date(headers.get("date"))
    if reference is None:
        reference = time.time() if now is None else now
    return max(0.0, when - reference)


_RATE_HEADERS = frozenset(
    {b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset", b"date"}
)


def _rate_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """The headers `RateLimit.from_headers` reads, picked in one pass when ``headers`` has raw
    ``(name, value)`` byte pairs (as ``httpx.Headers`` does, whose every lookup is a scan)."""
    raw = getattr(headers, "raw", None)
    if not isinstance(raw, list):
        return headers
    found: dict[str, str] = {}
    for name, value in raw:
        key = name.lower()
        if key in _RATE_HEADERS:
            text, decoded = key.decode(), value.decode("latin-1")
            # Repeated headers read as one comma-joined value, as httpx.Headers reads them.
            found[text] = f"{found[text]}, {decoded}" if text in found else decoded
    return found


@dataclass(frozen=True)
class RateLimit:
    """The rate-limit state a response reported, from its ``X-RateLimit-*`` headers.

    Attributes:
        limit: requests allowed per window.
        remaining: requests left in the current window.
        reset: when the window refills, as Unix epoch seconds on the server's clock.
        clock_offset: seconds the server's clock was ahead of this machine's when the response
            arrived (``0.0`` unless the ``Date`` header showed real skew).
    """

    limit: int
    remaining: int
    reset: float
    clock_offset: float = field(default=0.0, compare=False)

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], *, now: float | None = None
    ) -> RateLimit | None:
        """Parse the three headers; ``None`` when any is missing or malformed (never raises)."""
        headers = _rate_headers(headers)
        limit = _number(headers.get("x-ratelimit-limit"))
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        if limit is None or remaining is None or reset is None:
            return None
        if limit < 0 or not 0 <= reset <= _LATEST_EPOCH or limit > 2**53 or remaining > 2**53:
            return None
        local_now = time.time() if now is None else now
        return cls(
            limit=int(limit),
            remaining=max(0, int(remaining)),
            reset=reset,
            clock_offset=clock_offset(headers.get("date"), local_now),
        )

    def for_pacing(self, now: float) -> RateLimit | None:
        """This state as pacing may trust it at ``now`` (local clock), or ``None``.

        Knouds windows last a minute: a reset more than an hour ahead is a broken header, and
        trusting it would refuse every call locally until then. When only the ``Date`` header
        makes it look that far (a server clock years off), the ``Date`` is ignored instead.
        """
        if self.local_reset - now <= _PLAUSIBLE_RESET_AHEAD:
            return self
        if self.reset - now <= _PLAUSIBLE_RESET_AHEAD:
            return RateLimit(self.limit, self.remaining, self.reset, clock_offset=0.0)
        return None

    @property
    def reset_at(self) -> datetime:
        """The reset moment as an aware UTC ``datetime`` (server clock)."""
        return datetime.fromtimestamp(self.reset, tz=timezone.utc)

    @property
    def local_reset(self) -> float:
        """The reset moment on this machine's clock (epoch seconds), corrected for skew."""
        return self.reset - self.clock_offset

    def seconds_until_reset(self, now: float | None = None) -> float:
        """Seconds from ``now`` (default: the current time) until the window refills; never
        negative."""
        current = time.time() if now is None else now
        return max(0.0, self.local_reset - current)


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


publish(globals())
