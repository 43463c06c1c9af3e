"""The base of every public model: unknown fields are kept, never an error."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["KnoudsModel"]


class KnoudsModel(BaseModel):
    """Base of the SDK's models: fields the API adds later are kept (``model_extra``), and
    fields can be filled by their API (camelCase) or Python names."""

    # defer_build: a model's validator is built on its first use, not at import (most programs
    # only ever validate a few of the models).
    model_config: ClassVar[ConfigDict] = ConfigDict(
        extra="allow", populate_by_name=True, defer_build=True
    )
