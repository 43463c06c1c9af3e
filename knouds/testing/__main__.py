"""``python -m knouds.testing`` (and ``knouds emulator``): serve the Knouds emulator in the
foreground."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from knouds.testing._serve import serve

__all__ = ["add_emulator_options", "emulator_options", "main"]


def add_emulator_options(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to a parser; each one's help says its default."""
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="requests per window for every key (default: by tier: pro 100, business 1000)",
    )
    parser.add_argument(
        "--window",
        type=float,
        default=60.0,
        metavar="S",
        help="rate-limit window in seconds (default: %(default)g)",
    )
    parser.add_argument(
        "--execution-delay",
        type=float,
        default=0.2,
        metavar="S",
        help="seconds an async execution stays processing (default: %(default)g)",
    )
    parser.add_argument(
        "--run-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds each sync run takes (default: %(default)g)",
    )
    parser.add_argument(
        "--credits",
        type=int,
        default=1000,
        metavar="N",
        help="starting balance of every key (default: %(default)d)",
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


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m knouds.testing") -> None:
    """Parse command-line options and serve until Ctrl-C.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.
        prog: The program name shown in help and errors.
    """
    parser = argparse.ArgumentParser(prog=prog, description="Run a local Knouds API emulator.")
    add_emulator_options(parser)
    args = parser.parse_args(argv)
    serve(args.port, **emulator_options(args))


if __name__ == "__main__":
    main()
