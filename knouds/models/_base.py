"""The base of every public model: unknown fields are kept, never an error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["KnoudsModel"]


class KnoudsModel(BaseModel):
    """Base of the SDK's models: fields the API adds later are kept (``model_extra``), and
    fields can be filled by their API (camelCase) or Python names."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
