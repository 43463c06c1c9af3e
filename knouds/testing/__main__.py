"""``python -m knouds.testing``: serve the Knouds emulator in the foreground."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from knouds.testing._serve import serve


def main(argv: Sequence[str] | None = None) -> None:
    """Parse command-line options and serve until Ctrl-C.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m knouds.testing", description="Run a local Knouds API emulator."
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window")
    parser.add_argument("--window", type=float, default=60.0, help="rate-limit window, seconds")
    parser.add_argument(
        "--execution-delay", type=float, default=0.2, help="seconds an async run takes"
    )
    parser.add_argument("--credits", type=int, default=1000, help="starting balance per key")
    args = parser.parse_args(argv)
    serve(
        args.port,
        host=args.host,
        rate_limit=args.rate_limit,
        window=args.window,
        execution_delay=args.execution_delay,
        credits=args.credits,
    )


if __name__ == "__main__":
    main()
