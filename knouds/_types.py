"""Small shared types: the ``NOT_GIVEN`` sentinel and type aliases (httpx only for type checking:
importing the data types loads no I/O module)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from typing_extensions import final

if TYPE_CHECKING:
    import httpx

from ._public import publish

__all__ = [
    "NOT_GIVEN",
    "AsyncSleep",
    "Clock",
    "Headers",
    "Inputs",
    "JSONObject",
    "NotGiven",
    "RedisClient",
    "Sleep",
    "SleepFn",
    "TimeoutTypes",
]


@final
class NotGiven:
    """Marks an argument the caller did not pass, where ``None`` is a meaningful value.

    ``timeout=None`` means "no timeout"; ``timeout=NOT_GIVEN`` means "use the client's default".
    """

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()

TimeoutTypes: TypeAlias = "float | httpx.Timeout | None"
Headers: TypeAlias = Mapping[str, str]
Inputs: TypeAlias = Mapping[str, Any]
JSONObject: TypeAlias = dict[str, Any]
Clock: TypeAlias = Callable[[], float]
Sleep: TypeAlias = Callable[[float], None]
AsyncSleep: TypeAlias = Callable[[float], Awaitable[None]]
# `Sleep` under the name the sync shells use (their `Sleep` is the core's command).
SleepFn: TypeAlias = Sleep
# A redis-py client (``redis.Redis``, ``redis.asyncio.Redis`` or a cluster client); redis-py is an
# optional dependency, so it cannot be named here.
RedisClient: TypeAlias = Any


publish(globals())
