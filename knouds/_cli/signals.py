"""Ctrl-C and SIGTERM during ``knouds batch``: the first stops the batch, a second leaves.

``docker stop``, Kubernetes, systemd and ``timeout`` send SIGTERM; it is handled like Ctrl-C. The
first signal raises `Stop` in the main thread: no new input starts, the runs in flight end and
are recorded. A second one while they are waited for calls ``leave`` from the handler itself
(where a raised exception lands is chance: one that lands before the thread pool starts waiting
would still wait for every run in flight), or raises `Abandon` when nothing set ``leave``. Once
the batch is ``settled`` (writing its results), signals are ignored until it is done.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO

__all__ = ["SIGNAL_EXIT", "Abandon", "Signals", "Stop", "handled_signals", "signal_name"]

SIGNAL_EXIT: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
"""The exit status after each signal (128 + its number)."""


class Stop(KeyboardInterrupt):
    """The first Ctrl-C or SIGTERM: start no new input; runs in flight end and are recorded."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Abandon(KeyboardInterrupt):
    """A second Ctrl-C or SIGTERM while waiting for the runs in flight: leave without them."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Signals:
    """SIGINT and SIGTERM while a batch runs: the first stops it, a second abandons the runs
    in flight; once ``settled``, a signal only waits for the results to be written.

    Args:
        err: where to say at once what the first signal does.
    """

    def __init__(self, err: TextIO) -> None:
        self.first: int | None = None
        self.settled = False
        self.leave: Callable[[int], None] | None = None
        """Called with the second signal's number to leave at once (it does not return)."""
        self._err = err

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler (runs in the main thread)."""
        if self.settled:
            return
        if self.first is not None:
            self.settled = True  # a third signal does not interrupt the leaving
            if self.leave is not None:
                self.leave(signum)
            raise Abandon(signum)
        self.first = signum
        # Said now: waiting for the runs in flight may take as long as a run does.
        with contextlib.suppress(Exception):  # the stream busy or closed: the summary says it
            self._err.write(
                f"\nknouds: stopping ({signal_name(signum)}): no new input starts; waiting for "
                "the runs in flight to end (press Ctrl-C again to leave without them)\n"
            )
            self._err.flush()
        raise Stop(signum)


@contextmanager
def handled_signals(err: TextIO) -> Iterator[Signals]:
    """Handle SIGINT and SIGTERM with a `Signals` (only in the main thread, where Python runs
    signal handlers), restoring the previous handlers on the way out."""
    state = Signals(err)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNAL_EXIT:
            previous[signum] = signal.signal(signum, state.handle)
    try:
        yield state
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def signal_name(signum: int) -> str:
    """``Ctrl-C`` for SIGINT, else the signal's name (``SIGTERM``)."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
