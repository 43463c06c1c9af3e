"""What the core knows of one exchange while a shell performs it: how far the request got
(`SendProgress`, from the connection pool's trace) and a body that passed its size cap
(`BodyTooLarge`). No I/O: the shells (``knouds/_transports/deadline.py``) fill them in.
"""

from __future__ import annotations

import typing

import httpx

__all__ = ["BodyTooLarge", "SendProgress"]


class BodyTooLarge(Exception):
    """The response body passed the size cap; the rest was not read."""

    def __init__(self, response: httpx.Response, limit: int) -> None:
        super().__init__(f"the response body is larger than {limit} bytes")
        self.response = response
        self.limit = limit


class SendProgress:
    """How far one exchange got, from httpcore's ``trace`` events, so that an exchange cut off
    (by its time limit, an interrupt, a cancellation) is judged truthfully: "nothing was sent"
    while it was still connecting (TCP or TLS), "may have been processed" once the request
    started to leave.

    Transports that report no events (aiohttp, custom ones) always get the cautious answer.
    ``traced`` is set by a shell whose transport is an httpcore pool (it reports every step, so
    no event yet means the exchange is still waiting for a pooled connection).
    """

    __slots__ = ("connecting", "handshake", "sending", "started", "tcp", "traced")

    def __init__(self) -> None:
        self.connecting = False
        self.sending = False
        self.handshake = False
        self.traced = False
        self.started = False  # set by the shell when it begins the exchange
        self.tcp: typing.Any = None

    @property
    def nothing_sent(self) -> bool:
        """Whether, by the transport's own account, no byte of the request was written yet."""
        return not self.started or (self.traced and not self.sending)

    async def trace(self, name: str, info: dict[str, typing.Any]) -> None:
        """The ``trace`` request extension httpcore calls on every step of the exchange."""
        self.trace_sync(name, info)

    def trace_sync(self, name: str, info: dict[str, typing.Any]) -> None:
        """`trace` for a synchronous httpcore pool."""
        if name.startswith("connection."):
            self.connecting = True
            if name == "connection.connect_tcp.complete":
                self.tcp = info.get("return_value")
            elif name == "connection.start_tls.started":
                self.handshake = True
            elif name == "connection.start_tls.complete":
                self.handshake, self.tcp = False, None  # the connection owns the stream now
        elif name.endswith(".started") and "send_" in name:
            # Request headers (or an HTTP/2 preface, or a proxy's CONNECT): from here on the
            # server may have seen something.
            self.sending = True
