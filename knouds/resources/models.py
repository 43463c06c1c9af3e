"""``client.models``: `Models` and `AsyncModels`.

Kept for imports written against earlier releases (``knouds.resources.models.Models``).
"""

from .._async.resources.models import AsyncModels
from .._sync.resources.models import Models

__all__ = ["AsyncModels", "Models"]
