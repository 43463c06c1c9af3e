"""Run the emulator in the foreground, for pointing a local SDK or app at it."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from knouds.testing._emulator import Emulator


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT or SIGTERM for as long as the block runs.

    Both are installed explicitly: a process started with SIGINT ignored (a background job, some
    test runners) inherits that, and would otherwise never stop on Ctrl-C; SIGTERM is what
    process managers and ``Popen.terminate`` send.
    """
    wanted: list[int] = [signal.SIGINT, signal.SIGTERM]
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: object) -> None:
        stop.set()

    try:
        for sig in wanted:
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: signals are the main thread's business
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(port: int = 0, *, host: str = "127.0.0.1", **emulator_options: Any) -> None:
    """Start an emulator, print how to use it, and block until Ctrl-C or SIGTERM.

    Args:
        port: Port to listen on; 0 picks a free one.
        host: Interface to bind.
        **emulator_options: Further ``Emulator`` options (``rate_limit``, ``credits``...).
    """
    with Emulator(host=host, port=port, **emulator_options) as emu:
        print(f"Knouds emulator listening on {emu.base_url}")
        print("Point the SDK at it with:")
        print(f"export KNOUDS_BASE_URL={emu.base_url}")
        print(f"export KNOUDS_API_KEY={emu.api_key}")
        print("Press Ctrl-C to stop.", flush=True)
        stop = threading.Event()
        with _stop_on_signals(stop):
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
        print("Stopped.", file=sys.stderr, flush=True)
