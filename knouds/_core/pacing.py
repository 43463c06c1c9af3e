"""What an attempt asks of a rate-limit store, and the command that carries a round trip to one.

The stores (``knouds/_stores/pacing.py``: in this process, or shared through Redis) implement
`Pacing`; their `acquire` and `release` are generators that yield `StoreCall` commands, which
the drivers run (sync, or awaited) like they send requests.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..models._ratelimit import RateLimit

__all__ = ["Pacing", "ScriptRunner", "StoreCall"]


class ScriptRunner(Protocol):
    """Runs a store's scripts; returns the reply, or the exception it raised (never raises)."""

    def run(self, script: str, keys: Sequence[str], args: Sequence[object]) -> object: ...

    async def arun(self, script: str, keys: Sequence[str], args: Sequence[object]) -> object: ...


@dataclass(frozen=True)
class StoreCall:
    """Command: run a pacing script on the store and resume the flow with its reply (or the
    exception it raised)."""

    runner: ScriptRunner
    script: str
    keys: tuple[str, ...]
    args: tuple[object, ...]

    def run(self) -> object:
        """Run it synchronously."""
        return self.runner.run(self.script, self.keys, self.args)

    async def arun(self) -> object:
        """Run it in the event loop."""
        return await self.runner.arun(self.script, self.keys, self.args)


class Pacing(Protocol):
    """What an attempt asks of a store: reserve a slot, hand it back, report state. A slot
    (``None`` while the window has no room) is the store's own object: the attempt only hands it
    back."""

    def acquire(
        self, bucket: str, *, pace: bool
    ) -> Generator[StoreCall, object, tuple[Any, float]]:
        """Reserve a slot, or say how many seconds to wait before asking again."""
        ...

    def release(
        self, ticket: Any, rate_limit: RateLimit | None
    ) -> Generator[StoreCall, object, None]:
        """Hand a slot back with what its response's headers said."""
        ...

    def abandon(self, ticket: Any) -> None:
        """Hand a slot back without I/O (a failed or cancelled request)."""
        ...

    def snapshot(self) -> dict[str, RateLimit]:
        """The last rate-limit state each bucket reported."""
        ...
