"""How the client shells enforce the limits the core sets on one exchange: wall time and body size.

The core decides, per attempt, how many seconds the whole exchange may take and how many body
bytes may be read (`knouds._core.attempt.Send`). httpx's own timeouts bound each socket
operation, not the exchange: a server dripping a header line a second, or a body byte a second,
never trips a read timeout. So:

- the body is always streamed and counted after decompression (`BodyReader`): a body over the
  cap, or one still arriving when the time is up, is abandoned without reading the rest;
- the async shell wraps the whole exchange in an asyncio timeout (any transport, aiohttp too);
- the sync shell cannot interrupt a blocking read from outside, so the SDK's own connection pool
  sends through `DeadlineBackend`, which cuts each socket operation's timeout to what is left of
  the exchange (`install_deadlines`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import ssl
import sys
import time
import typing
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from .._core.exchange import BodyTooLarge, SendProgress
from .._core.settings import ACCEPT_ENCODING

if TYPE_CHECKING:
    from .._core.attempt import Send

__all__ = [
    "BOUNDED_ENCODINGS",
    "SEND_DEADLINE",
    "BodyReader",
    "DeadlineBackend",
    "install_deadlines",
    "raised_by_the_sdk",
    "reports_progress",
    "time_is_up",
    "timed_out",
]

# The monotonic instant by which the exchange running in this thread or task must end.
SEND_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "knouds_send_deadline", default=None
)


# The encodings read (what the SDK asks for, `ACCEPT_ENCODING`): their output per input byte is
# bounded (deflate inflates at most about 1000 to 1), so counting decompressed chunks against the
# size cap works. Brotli and zstd can turn one network read into gigabytes inside a single
# decompression call, before any count.
BOUNDED_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate", ""})


def time_is_up(request: httpx.Request) -> httpx.ReadTimeout:
    """The error standing for an exchange that ran out of time (it may have been processed)."""
    return httpx.ReadTimeout("no complete answer in the time the call allows", request=request)


class BodyReader:
    """Collects a streamed body, decompressed, within a byte cap and a monotonic deadline."""

    def __init__(self, response: httpx.Response, *, max_bytes: int, deadline: float | None):
        self._response = response
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._chunks: list[bytes] = []
        self._size = 0
        declared = response.headers.get("content-length", "")
        encoding = response.headers.get("content-encoding", "identity").lower()
        if {part.strip() for part in encoding.split(",")} - BOUNDED_ENCODINGS:
            raise httpx.DecodingError(
                f"the body is encoded as {encoding!r}, which the SDK did not ask for (it accepts "
                f"{ACCEPT_ENCODING!r}); not read",
                request=response.request,
            )
        if encoding == "identity" and declared.isdigit() and int(declared) > max_bytes:
            raise BodyTooLarge(response, max_bytes)

    def add(self, chunk: bytes) -> None:
        """Count one decompressed chunk; raise when the cap or the deadline is passed."""
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise BodyTooLarge(self._response, self._max_bytes)
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise time_is_up(self._response.request)
        self._chunks.append(chunk)

    def finish(self) -> httpx.Response:
        """The response with its body in place, as ``response.read()`` would leave it."""
        # What ``Response.read`` does after iterating the stream; the stream itself is closed.
        self._response._content = b"".join(self._chunks)
        return self._response


def _cut(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = SEND_DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the call's time limit ran out")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cut(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cut(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        try:
            timeout = _cut(timeout, httpcore.ConnectTimeout)
        except httpcore.ConnectTimeout:
            self._inner.close()  # httpcore closes the stream when start_tls fails, not before
            raise
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """An httpcore network backend whose socket operations end by `SEND_DEADLINE`."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _cut(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _cut(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def reports_progress(client: httpx.Client | httpx.AsyncClient, url: httpx.URL) -> bool:
    """Whether the transport ``client`` sends ``url`` through is an httpcore pool, which reports
    each step of an exchange to the ``trace`` extension (`SendProgress`)."""
    try:
        transport = client._transport_for_url(url)
    except Exception:  # httpx keeps this private; without it, the cautious answer
        return False
    return isinstance(transport, (httpx.HTTPTransport, httpx.AsyncHTTPTransport))


def install_deadlines(client: httpx.Client) -> bool:
    """Make the connection pools of an ``httpx.Client`` honour `SEND_DEADLINE`.

    This is the one change the SDK makes to an ``httpx.Client`` passed in as ``http_client``
    (documented in docs/configuration.md): the network backend of each of its httpcore pools is
    wrapped in a `DeadlineBackend`. Only ``httpx.HTTPTransport`` pools are touched (custom
    transports are left alone), the wrapper passes every call through unchanged unless an SDK
    call running in the same thread set a deadline, and installing it twice is a no-op. So other
    uses of the client, during and after the SDK's, are unaffected.

    Returns whether every pool took the backend (httpx keeps its pools private; should that
    change, the body and the other bounds still hold, only a server dripping headers is then
    bounded by the read timeout alone).
    """
    mounts = getattr(client, "_mounts", None)
    transports = [getattr(client, "_transport", None)]
    installed = isinstance(mounts, dict) and transports[0] is not None
    if isinstance(mounts, dict):
        transports.extend(mounts.values())
    for transport in transports:
        if transport is None:
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, DeadlineBackend):
            continue
        if not isinstance(backend, httpcore.NetworkBackend):
            installed = False
            continue
        pool._network_backend = DeadlineBackend(backend)  # type: ignore[union-attr]
    return installed


# The two shells' ways of holding an exchange to its limit (``scripts/unasync.py`` maps one onto
# the other).
if sys.version_info >= (3, 11):
    _timeout = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    class _timeout:
        """``asyncio.timeout`` for Python 3.10: cancel the task when the time is up."""

        def __init__(self, seconds: float) -> None:
            self._seconds = seconds
            self._expired = False

        async def __aenter__(self) -> None:
            task = asyncio.current_task()
            assert task is not None
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(self._seconds, self._expire, task)

        def _expire(self, task: asyncio.Task[Any]) -> None:
            self._expired = True
            task.cancel()

        async def __aexit__(self, exc_type: object, *rest: object) -> None:
            self._handle.cancel()
            if self._expired and exc_type is asyncio.CancelledError:
                raise asyncio.TimeoutError


@contextlib.contextmanager
def _deadline(send: Send, http: httpx.Client) -> Iterator[float | None]:
    """The monotonic instant by which ``send``'s exchange must end (sync): a blocking read cannot
    be interrupted from outside, so the socket operations read it (`install_deadlines`). The
    pool's trace tells how far the exchange got."""
    deadline = None if send.limit is None else time.monotonic() + send.limit
    token = SEND_DEADLINE.set(deadline)
    send.progress.started = True
    send.progress.traced = reports_progress(http, send.request.url)
    send.request.extensions["trace"] = send.progress.trace_sync
    try:
        yield deadline
    finally:
        SEND_DEADLINE.reset(token)


async def timed_out(progress: SendProgress, request: httpx.Request) -> httpx.TimeoutException:
    """The error for an exchange whose time ran out where ``progress`` says it got.

    A TLS handshake cut off by the time limit leaves its TCP stream to nobody (httpcore
    closes it on errors, not on cancellation): it is closed here.
    """
    if progress.handshake and progress.tcp is not None:
        stream, progress.tcp = progress.tcp, None
        with contextlib.suppress(Exception):  # already broken: nothing more to release
            await stream.aclose()
    if progress.connecting and not progress.sending:
        return httpx.ConnectTimeout(
            "no connection in the time the call allows; nothing was sent", request=request
        )
    return time_is_up(request)


@contextlib.asynccontextmanager
async def _async_deadline(send: Send, http: httpx.AsyncClient) -> AsyncIterator[float | None]:
    """The monotonic instant by which ``send``'s exchange must end (async): the whole exchange
    runs inside an asyncio timeout (any transport, aiohttp too). When the time is up (or the
    transport raises one of asyncio's timeouts), it raises the error `SendProgress` makes of how
    far the exchange got, from the pool's trace."""
    progress = send.progress
    progress.started = True
    progress.traced = reports_progress(http, send.request.url)
    send.request.extensions["trace"] = progress.trace
    try:
        if send.limit is None:
            yield None
        else:
            deadline = time.monotonic() + send.limit
            async with _timeout(send.limit):
                yield deadline
    except asyncio.TimeoutError:
        raise await timed_out(progress, send.request) from None
    finally:
        send.request.extensions.pop("trace", None)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PROGRAMMING_ERRORS = (AttributeError, NameError, TypeError, ValueError, KeyError, IndexError)


def raised_by_the_sdk(error: BaseException) -> bool:
    """Whether ``error`` is a programming error raised by the SDK's own code (its innermost frame
    is in the knouds package): a bug to surface as it is, not a connection that broke."""
    if not isinstance(error, _PROGRAMMING_ERRORS):
        return False
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE + os.sep)
