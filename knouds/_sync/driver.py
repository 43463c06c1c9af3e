# Generated from knouds/_async/driver.py by scripts/unasync.py:
# edit that file, not this one.
"""The driver: performs the commands of a call's flow (see ``knouds/_core/pipeline.py``).

The driver decides nothing: it sends, sleeps, asks the stores, and throws whatever it meets back
into the flow at the command it interrupted (the flow records, releases and settles, then lets
it propagate). On the async client, a cancellation that arrives while a journal or budget write
runs in its worker thread waits for the write to land, hands its value to the flow, and is
delivered at the next command the flow may skip (`Landed`). With telemetry on, it tells the
call's observer when each attempt starts and ends and when the flow waits; without it the
observer is ``None`` and nothing else happens.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, TypeVar

from .._base.offload import Landed, perform
from .._core.attempt import Send, Sleep, StoreCall
from .._core.commands import Command, Follow

if TYPE_CHECKING:
    from .._base.observe import CallObserver

__all__ = ["drive"]

T = TypeVar("T")


def drive(
    flow: Generator[Command, object, T],
    *,
    exchange: Callable[[Send], object],
    sleep: Callable[[float], object],
    observer: CallObserver | None = None,
) -> T:
    """Run ``flow`` to its end and return its value (or raise what it raises)."""
    value: object = None
    error: BaseException | None = None
    deferred: BaseException | None = None  # an interrupt waiting for a command it may skip
    try:
        while True:
            try:
                command = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                if deferred is not None:
                    raise deferred from None
                return stop.value  # type: ignore[no-any-return]
            except BaseException as ended:
                if deferred is not None:  # the caller was cancelled: that comes first
                    raise deferred from ended
                raise
            value = error = None
            if deferred is not None and not getattr(command, "must_land", False):
                error, deferred = deferred, None
                continue
            try:
                if isinstance(command, Send):
                    if observer is None:
                        value = exchange(command)
                    else:
                        handle = observer.send_started(command)
                        try:
                            value = exchange(command)
                        except BaseException as exc:
                            observer.send_ended(handle, exc)
                            raise
                        observer.send_ended(handle, value)
                elif isinstance(command, Sleep):
                    if observer is not None:
                        observer.slept(command)
                    sleep(command.seconds)
                elif isinstance(command, StoreCall):
                    value = command.run()
                elif isinstance(command, Follow):
                    value = command.fn(*command.args)
                else:
                    value = perform(command)
            except Landed as landed:
                value, error, deferred = landed.value, landed.error, landed.interrupt
            except BaseException as exc:  # every exit goes through the flow
                error = exc
    finally:
        flow.close()
