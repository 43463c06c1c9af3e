"""``client.workflows``: `Workflows` and `AsyncWorkflows`.

Kept for imports written against earlier releases (``knouds.resources.workflows.Workflows``).
"""

from .._async.resources.workflows import AsyncWorkflows
from .._sync.resources.workflows import Workflows

__all__ = ["AsyncWorkflows", "Workflows"]
