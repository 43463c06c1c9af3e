"""``python -m knouds``: the ``knouds`` command line (see `knouds._cli`)."""

from __future__ import annotations

import sys

from knouds._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
