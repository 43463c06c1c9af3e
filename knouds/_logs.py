"""``KNOUDS_LOG`` and ``knouds -v``: the ``knouds`` logger to stderr, at the level asked.

The records of a call carry its facts as ``extra`` fields for structured logging
(``knouds_operation``, ``knouds_model``, ``knouds_method``, ``knouds_path``, ``knouds_attempt``,
``knouds_status``, ``knouds_wait``, and ``knouds_retry_reason`` on a retry); never the API key,
the inputs or the outputs.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

__all__ = ["LEVELS", "configure_logging", "configure_from_environment"]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_FORMAT = "[%(asctime)s %(levelname)s %(name)s] %(message)s"


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_logging` adds (found again rather than added twice)."""


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Send the ``knouds`` logger's records of ``level`` (``debug``, ``info`` or ``warning``)
    and above to ``stream`` (default: standard error)."""
    value = LEVELS.get(level.strip().lower())
    if value is None:
        return  # an unknown level changes nothing, as OPENAI_LOG does
    logger = logging.getLogger("knouds")
    logger.setLevel(value)
    for handler in logger.handlers:
        if isinstance(handler, _Handler):
            handler.setLevel(value)
            if stream is not None:
                handler.setStream(stream)
            return
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(value)
    logger.addHandler(handler)


def configure_from_environment() -> None:
    """Apply ``KNOUDS_LOG`` when it is set."""
    level = os.environ.get("KNOUDS_LOG")
    if level:
        configure_logging(level)
