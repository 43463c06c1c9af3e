"""Time inside the emulator: an injectable clock and the time formats the API uses."""

from __future__ import annotations

import math
from collections.abc import Callable
from email.utils import formatdate

Clock = Callable[[], float]
"""A zero-argument callable returning the current time as Unix epoch seconds."""


class ManualClock:
    """A clock that moves only when told to, for tests that must not sleep.

    Pass it as ``Emulator(clock=...)`` and advance it to expire rate-limit windows or finish
    asynchronous executions instantly.

    Args:
        start: The initial time, in Unix epoch seconds.

    Example:
        >>> clock = ManualClock(start=1_700_000_000.0)
        >>> clock.advance(1.5)
        1700000001.5
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now: float = float(start)

    def __call__(self) -> float:
        """Return the current time in Unix epoch seconds."""
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward.

        Args:
            seconds: How far to move; may be fractional.

        Returns:
            The new current time.
        """
        self.now += seconds
        return self.now


def http_date(epoch: float) -> str:
    """Format an epoch time as an RFC 9110 ``Date`` header value."""
    return formatdate(epoch, usegmt=True)


def is_integral(value: float) -> bool:
    """Tell whether a float is a whole number, tolerating floating-point noise."""
    return abs(value - round(value)) < 1e-6


def format_seconds(value: float) -> str:
    """Format seconds as an integer when whole, else with three decimals."""
    if is_integral(value):
        return str(round(value))
    return f"{value:.3f}"


def seconds_number(value: float, *, whole: bool) -> float | int:
    """Turn a wait into the number a client is told to wait.

    Args:
        value: The exact wait in seconds.
        whole: Round up to whole seconds (at least one) instead of keeping milliseconds.

    Returns:
        An int when ``whole``, else a float rounded to milliseconds (at least 0.001).
    """
    if whole:
        return max(1, math.ceil(value - 1e-9))
    return max(0.001, round(value, 3))
