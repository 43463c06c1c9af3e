"""Whether the SDK may replace a private step of httpcore's pool (see `pool`): only in the
releases it was written against and tested with, told by a fingerprint of the step's source."""

from __future__ import annotations

import logging
from typing import Any

import httpcore

__all__ = ["planning_tested"]


# The planning steps the lean pool mirrors, as written in the httpcore releases it was tested
# with (a hash of each method's source). Any other httpcore keeps its own pool: a private method
# renamed or rewritten must never turn every call into a broken connection.
_TESTED_PLANNING = {
    "ConnectionPool": frozenset({"4e09ebf79b6273ad"}),  # httpcore 1.0.9
    "AsyncConnectionPool": frozenset({"ea1547e78a655633"}),  # httpcore 1.0.9
}


_planning_checked: dict[type[Any], bool] = {}


def planning_tested(pool_class: type[Any]) -> bool:
    """Whether ``pool_class``'s planning step is one the lean pool was tested against."""
    known = _planning_checked.get(pool_class)
    if known is None:
        known = _planning_checked[pool_class] = _fingerprint_tested(pool_class)
    return known


def _fingerprint_tested(pool_class: type[Any]) -> bool:
    import hashlib
    import inspect

    try:
        source = inspect.getsource(pool_class._assign_requests_to_connections)
    except (AttributeError, OSError, TypeError):
        return False
    fingerprint = hashlib.sha256(source.encode()).hexdigest()[:16]
    tested = fingerprint in _TESTED_PLANNING.get(pool_class.__name__, frozenset())
    if not tested:
        logging.getLogger("knouds").debug(
            "httpcore %s: its pool's planning step is not the one the SDK's lean pool was "
            "tested with; the stock pool is used",
            httpcore.__version__,
        )
    return tested
