"""Fixed-window rate limiting, per account and per route family, driven by the emulator clock."""

from __future__ import annotations

import math
from dataclasses import dataclass

from knouds.testing._bodies import Headers, rate_limit_headers
from knouds.testing._clock import seconds_number

TIER_LIMITS: dict[str, int | None] = {"free": 10, "pro": 100, "business": 1000, "enterprise": None}
"""Requests per window for each plan tier; ``None`` means unlimited (no headers sent)."""


@dataclass(frozen=True)
class LimitState:
    """The state of one bucket's current window, as reported in the response headers."""

    limit: int
    remaining: int
    reset: float
    now: float
    window: float

    def headers(self) -> Headers:
        """Return the three ``X-RateLimit-*`` headers."""
        return rate_limit_headers(self.limit, self.remaining, self.reset)

    def retry_after(self) -> float | int:
        """Seconds until the window refills: whole seconds, or milliseconds for short windows."""
        return seconds_number(self.reset - self.now, whole=self.window >= 1)


class FixedWindowLimiter:
    """Counts requests in fixed windows aligned to the clock (``floor(now / window) * window``)."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    def _count(self, slot: tuple[str, str], start: float) -> int:
        stored = self._windows.get(slot)
        if stored is None or stored[0] != start:
            return 0
        return stored[1]

    def peek(self, account: str, bucket: str, limit: int, window: float, now: float) -> LimitState:
        """Report a bucket's state without counting a request."""
        start = math.floor(now / window) * window
        used = self._count((account, bucket), start)
        return LimitState(limit, max(0, limit - used), start + window, now, window)

    def hit(
        self, account: str, bucket: str, limit: int, window: float, now: float
    ) -> tuple[bool, LimitState]:
        """Count one request.

        Returns:
            Whether the request is allowed, and the bucket's state after counting it.
        """
        start = math.floor(now / window) * window
        slot = (account, bucket)
        used = self._count(slot, start)
        if used >= limit:
            return False, LimitState(limit, 0, start + window, now, window)
        self._windows[slot] = (start, used + 1)
        return True, LimitState(limit, limit - used - 1, start + window, now, window)

    def reset(self) -> None:
        """Forget every window, refilling all buckets."""
        self._windows.clear()
