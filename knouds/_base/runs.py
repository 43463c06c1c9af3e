"""What the runs of both clients share: how each request of a run is made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from .._core.retry import RetryPolicy
from .._types import NotGiven, TimeoutTypes

__all__ = ["RunOptions"]

_ASYNC = {"async": "true"}


class RunOptions(NamedTuple):
    """How each request of a run is made."""

    validate: bool
    timeout: TimeoutTypes | NotGiven
    extra_headers: Mapping[str, str] | None
    retry: RetryPolicy | None
    check_inputs: bool | None = None  # None: the client's setting
