"""``python -m knouds``: the ``knouds`` command line (see `knouds._cli.main`)."""

from __future__ import annotations

import os
import sys

from knouds._cli.main import main as _cli_main

__all__ = ["main"]


def main() -> int:
    """Run the ``knouds`` command in its own process.

    Pydantic plugins are not looked up (``PYDANTIC_DISABLE_PLUGINS``, unless already set): the
    search walks every installed package's metadata, which is a large part of a short command's
    start-up. Set ``PYDANTIC_DISABLE_PLUGINS=`` (empty) to load them anyway.
    """
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    return _cli_main()


if __name__ == "__main__":
    sys.exit(main())
