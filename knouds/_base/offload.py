"""Where the drivers perform a command that may block (a journal or budget write, a Redis call).

`aperform` (async) runs it in a worker thread, shielded: a cancellation that arrives meanwhile
lets the write land, then reaches the flow through `Landed`. `perform` (sync) runs it in the
calling thread, which is the one that waits anyway. The generated sync driver calls `perform`
where the async one awaits `aperform`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import TypeVar

from .._core.commands import Blocking

__all__ = ["Landed", "aperform", "off_loop", "perform", "run_here"]

T = TypeVar("T")


class Landed(Exception):
    """A blocking command that landed although the caller was cancelled meanwhile: its
    ``value`` (or ``error``) goes to the flow, and ``interrupt`` right after."""

    def __init__(
        self, value: object, error: BaseException | None, interrupt: BaseException
    ) -> None:
        super().__init__("cancelled while a write was under way")
        self.value = value
        self.error = error
        self.interrupt = interrupt


async def aperform(command: Blocking) -> object:
    """Perform ``command``: in a worker thread when it may block, so the event loop never waits
    on a disk or a blocking network client."""
    if not command.blocking:
        return command.perform()
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    future = loop.run_in_executor(None, context.run, command.perform)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError as cancel:
        interrupt: BaseException = cancel
    # The write goes on in its thread whatever happens to the caller: wait for it to land, so
    # that the flow knows what it wrote and can undo or record it.
    while not future.done():
        try:
            await asyncio.wait({future})
        except asyncio.CancelledError as again:
            interrupt = again
    error = future.exception()
    raise Landed(None if error is not None else future.result(), error, interrupt)


def perform(command: Blocking) -> object:
    """Perform ``command`` in the calling thread (the sync client's caller waits on it)."""
    return command.perform()


async def off_loop(blocking: bool, function: Callable[..., T], *args: object) -> T:
    """Call ``function`` from a worker thread when it may block (a journal, a Redis budget),
    else directly. Shielded: a cancelled caller does not drop a write already queued."""
    if blocking:
        loop = asyncio.get_running_loop()
        return await asyncio.shield(loop.run_in_executor(None, function, *args))
    return function(*args)


def run_here(blocking: bool, function: Callable[..., T], *args: object) -> T:
    """The sync twin of `off_loop`: the caller of a sync client is the thread that may block."""
    return function(*args)
