"""`RateLimit`, what a response says of its rate-limit window, and the parsing of the headers
that say it (``X-RateLimit-*``, ``Retry-After``, ``Date``). Pure: stdlib only, no I/O.

Knouds counts requests per key, per route family and per fixed window, and tells the client where
it stands on every response (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` as a Unix epoch
second). The pacer that acts on it is in ``knouds/_stores/pacer.py``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from .._public import publish

__all__ = [
    "RateLimit",
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
    # Header values are ASCII: float() would also read the digits of other scripts, and whether
    # those arrive intact depends on how the headers were decoded.
    if value is None or not value.isascii():
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


publish(globals())
