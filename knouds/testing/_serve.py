"""Run the emulator in the foreground, for pointing a local SDK or app at it."""

from __future__ import annotations

import sys
import threading
from typing import Any

from knouds.testing._emulator import Emulator


def serve(port: int = 0, *, host: str = "127.0.0.1", **emulator_options: Any) -> None:
    """Start an emulator, print how to use it, and block until Ctrl-C.

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
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("Stopped.", file=sys.stderr, flush=True)
