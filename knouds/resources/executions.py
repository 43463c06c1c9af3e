"""``client.executions``: `Executions` and `AsyncExecutions`.

Kept for imports written against earlier releases (``knouds.resources.executions.Executions``).
"""

from .._async.resources.executions import AsyncExecutions
from .._sync.resources.executions import Executions

__all__ = ["AsyncExecutions", "Executions"]
