"""``python -m knouds.testing``: serve the Knouds emulator in the foreground."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from knouds._emulator_options import add_emulator_options, emulator_options
from knouds.testing._serve import serve


def main(argv: Sequence[str] | None = None) -> None:
    """Parse command-line options and serve until Ctrl-C (the options of ``knouds emulator``).

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m knouds.testing", description="Run a local Knouds API emulator."
    )
    add_emulator_options(parser)
    args = parser.parse_args(argv)
    serve(args.port, **emulator_options(args))


if __name__ == "__main__":
    main()
