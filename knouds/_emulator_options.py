"""The emulator's command-line options, shared by ``knouds emulator`` and
``python -m knouds.testing`` (standard library only: building a parser stays cheap)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_emulator_options", "emulator_options"]


def add_emulator_options(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to a parser."""
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="requests per window for every key (default: by tier: pro 100, business 1000)",
    )
    parser.add_argument(
        "--window", type=float, default=60.0, metavar="S", help="rate-limit window in seconds"
    )
    parser.add_argument(
        "--execution-delay",
        type=float,
        default=0.2,
        metavar="S",
        help="seconds an async execution stays processing",
    )
    parser.add_argument(
        "--run-delay", type=float, default=0.0, metavar="S", help="seconds each sync run takes"
    )
    parser.add_argument(
        "--credits", type=int, default=1000, metavar="N", help="starting balance of every key"
    )
    parser.add_argument(
        "--older-docs",
        action="store_true",
        help="follow the older docs where they disagree with the newer ones "
        "(canvas models such as nano-banana-2 answer 404 MODEL_NOT_FOUND)",
    )


def emulator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``serve()`` keyword arguments the parsed options stand for."""
    return {
        "host": args.host,
        "rate_limit": args.rate_limit,
        "window": args.window,
        "execution_delay": args.execution_delay,
        "run_delay": args.run_delay,
        "credits": args.credits,
        "older_docs": args.older_docs,
    }
