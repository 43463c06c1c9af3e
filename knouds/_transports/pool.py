"""The SDK's own httpx clients: httpx with the costs removed that a knouds call never needs.

`build_http_client` and `build_async_http_client` make the ``httpx.Client`` /
``httpx.AsyncClient`` a knouds client uses when none is passed in. They are plain httpx clients
(same transport, same errors, mockable with respx) with four changes, each measured on the SDK's
benchmarks (``docs/performance.md``):

- **A linear-time connection pool.** httpcore 1.x re-plans its whole pool every time a request
  starts or ends, scanning every connection for every queued request and probing every idle
  connection's socket. With 100 requests in flight that bookkeeping costs more than the request
  itself (and it grows with the square of the connections in use). `LeanConnectionPool` and
  `LeanAsyncConnectionPool` keep httpcore's pool and override only that planning step, in one
  pass (as httpcore's successor does): reusable connections are listed once and only when a
  request waits for one, connections held by a request are not probed, the scan stops as soon
  as nothing more can be assigned, and idle connections are probed all together at most once a
  second (otherwise one by one, just before reuse).
- **A shorter ``send``.** `FastSendAsyncClient` sends a plain request (no auth, no event hooks,
  no redirects to follow) straight to the transport for its URL, as httpx's ``send`` ends
  up doing after several layers of generic machinery. Anything else goes through httpx's own
  ``send``.
- **Certificates loaded when needed.** Loading the CA bundle is most of what building an httpx
  client costs; the pool loads it (with httpx's own defaults and SSL environment variables) for
  its first HTTPS connection, so a client for a plain-HTTP local server or emulator never does.
- **Cookies parsed only when there are any.** httpx copies every response's headers into a
  ``http.cookiejar`` request/response pair to look for ``Set-Cookie``, even when there is none.
  The Knouds API sets no cookies, so `SetCookieOnlyCookies` skips that work unless the header is
  present (a cookie that is set is still stored, exactly as httpx does).

When httpcore's pool does not look as expected (another major version), the stock pool is kept.
"""

from __future__ import annotations

import datetime
import logging
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpcore
import httpx

from .surgery import planning_tested

_httpx_logger = logging.getLogger("httpx")

__all__ = [
    "FastSendAsyncClient",
    "LeanAsyncConnectionPool",
    "LeanConnectionPool",
    "SetCookieOnlyCookies",
    "build_async_http_client",
    "build_http_client",
    "use_lean_pool",
    "use_set_cookie_only",
]

# Idle connections are all probed (socket readable? keep-alive expired?) at most this often; in
# between, each is probed when it is about to be reused.
_SWEEP_INTERVAL = 1.0
# The planning step replaces a private method of httpcore's pool, written against httpcore 1.0
# (the version whose pool plans with ``_assign_requests_to_connections``). Other versions keep
# their own pool untouched.
_KNOWN_HTTPCORE = httpcore.__version__.split(".")[:2] == ["1", "0"]
# What the planning step relies on in httpcore's pool and its connections and requests.
_POOL_ATTRIBUTES = (
    "_requests",
    "_connections",
    "_max_connections",
    "_max_keepalive_connections",
    "_ssl_context",
)


class _LinearPlanning:
    """httpcore's ``_assign_requests_to_connections`` in one pass over connections and requests.

    Same outcome as httpcore's: closed connections dropped, expired and surplus idle ones closed,
    queued requests given a reusable connection for their origin, else a new one while the limit
    allows, else one that replaces an idle connection to another origin.
    """

    _requests: list[Any]
    _connections: list[Any]
    _max_connections: int
    _max_keepalive_connections: int
    _swept_at: float = float("-inf")
    # Certificates are loaded for the first HTTPS connection, not when the client is built.
    _tls_on_first_use: bool = False
    _ssl_context: Any

    def create_connection(self, origin: httpcore.Origin) -> Any:
        if self._tls_on_first_use and origin.scheme == b"https":
            self._ssl_context = httpx.create_ssl_context(verify=True, trust_env=True)
            self._tls_on_first_use = False
        return super().create_connection(origin)  # type: ignore[misc]

    def _assign_requests_to_connections(self) -> list[Any]:
        closing: list[Any] = []
        requests = self._requests
        # Probing an idle connection's socket costs a system call: a full sweep of the idle
        # connections runs at most once per interval; in between, a connection is probed when it
        # is about to be handed out.
        now = time.monotonic()
        sweep = now - self._swept_at >= _SWEEP_INTERVAL
        if sweep:
            self._swept_at = now
        # Connections a request holds (or is about to send on): never probed, never closed here.
        reserved = {request.connection for request in requests}
        retained: list[Any] = []
        idle = 0
        for connection in self._connections:
            if connection.is_closed():
                continue
            if connection in reserved:
                retained.append(connection)
            elif sweep and connection.has_expired():
                closing.append(connection)
            else:
                retained.append(connection)
                idle += connection.is_idle()
        surplus = idle - self._max_keepalive_connections
        if surplus > 0:
            kept: list[Any] = []
            for connection in retained:
                if surplus > 0 and connection not in reserved and connection.is_idle():
                    closing.append(connection)
                    surplus -= 1
                else:
                    kept.append(connection)
            retained = kept
        self._connections = retained

        queued = [request for request in requests if request.is_queued()]
        if not queued:
            return closing  # a response ended and nobody waits: nothing to assign
        # An idle HTTP/1.1 connection already assigned to a request is taken, though still idle
        # until that request is sent on it.
        available = [
            connection
            for connection in retained
            if connection.is_available() and not (connection.is_idle() and connection in reserved)
        ]
        budget = self._max_connections - len(retained)
        for request in queued:
            if not available and budget <= 0:
                break  # nothing more can be assigned: the rest stay queued
            origin = request.request.url.origin
            connection = self._reusable(available, origin, closing, probe=not sweep)
            if connection is not None:
                request.assign_to_connection(connection)
                continue
            if budget > 0:
                connection = self.create_connection(origin)
                self._connections.append(connection)
                request.assign_to_connection(connection)
                budget -= 1
                continue
            for index, connection in enumerate(available):
                if connection.is_idle():  # make room: replace an idle connection elsewhere
                    del available[index]
                    self._connections.remove(connection)
                    closing.append(connection)
                    connection = self.create_connection(origin)
                    self._connections.append(connection)
                    request.assign_to_connection(connection)
                    break
        return closing

    def _reusable(
        self, available: list[Any], origin: httpcore.Origin, closing: list[Any], *, probe: bool
    ) -> Any:
        """Take a connection to ``origin`` from ``available``; expired ones found on the way
        are closed. ``None`` when there is none."""
        index = 0
        while index < len(available):
            connection = available[index]
            if not connection.can_handle_request(origin):
                index += 1
                continue
            if not connection.is_idle():
                return connection  # in use and still available: a multiplexing connection
            del available[index]  # HTTP/1.1: one request at a time
            if probe and connection.has_expired():
                self._connections.remove(connection)
                closing.append(connection)
                continue
            return connection
        return None


class LeanConnectionPool(_LinearPlanning, httpcore.ConnectionPool):
    """httpcore's ``ConnectionPool`` whose planning step is linear in the pool's size."""


class LeanAsyncConnectionPool(_LinearPlanning, httpcore.AsyncConnectionPool):
    """httpcore's ``AsyncConnectionPool`` whose planning step is linear in the pool's size."""


def use_lean_pool(transport: httpx.BaseTransport | httpx.AsyncBaseTransport) -> bool:
    """Switch an httpx default transport's pool to the linear-time one, in place.

    Only a stock HTTP/1.1 httpcore pool is switched (not a proxy's, not HTTP/2, not an unknown
    httpcore). Returns whether it was.
    """
    if not _KNOWN_HTTPCORE:
        return False  # other httpcore versions keep their own planning step
    pool = getattr(transport, "_pool", None)
    lean: type[Any]
    if type(pool) is httpcore.AsyncConnectionPool:
        lean = LeanAsyncConnectionPool
    elif type(pool) is httpcore.ConnectionPool:
        lean = LeanConnectionPool
    else:
        return False
    if not all(hasattr(pool, name) for name in _POOL_ATTRIBUTES):
        return False  # pragma: no cover - an httpcore whose pool works differently
    if not planning_tested(type(pool)):
        return False
    if getattr(pool, "_http2", True):
        return False  # the planning step above treats an idle connection as single-use
    pool.__class__ = lean  # the subclass adds no state: the same object, a cheaper method
    return True


class SetCookieOnlyCookies(httpx.Cookies):
    """``httpx.Cookies`` that reads a response's cookies only when it sets some."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Store the cookies the response sets; nothing to do (and nothing copied) without
        ``Set-Cookie``."""
        if response.headers.get("set-cookie") is not None:
            super().extract_cookies(response)


def use_set_cookie_only(client: httpx.Client | httpx.AsyncClient) -> None:
    """Give ``client`` a `SetCookieOnlyCookies` jar holding the cookies it has."""
    cookies = getattr(client, "_cookies", None)
    if type(cookies) is httpx.Cookies:
        client._cookies = SetCookieOnlyCookies(cookies)


class _TimedStream(httpx.AsyncByteStream):
    """A streamed body that sets its response's ``elapsed`` when closed (as httpx's does)."""

    def __init__(
        self, inner: httpx.AsyncByteStream, response: httpx.Response, started: float
    ) -> None:
        self._inner = inner
        self._response = response
        self._started = started

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        self._response.elapsed = datetime.timedelta(seconds=time.perf_counter() - self._started)
        await self._inner.aclose()


class FastSendAsyncClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose ``send`` takes a short path for plain requests.

    A plain request is what the SDK sends: no auth, no event hooks, no redirect to follow. It
    goes straight to the transport httpx would choose for its URL; the response's
    cookies are stored, the ``httpx`` logger told, the body read (unless ``stream=True``) and
    ``elapsed`` set, as httpx's ``send`` does. Any other request goes through httpx's ``send``.
    """

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        """Send a request, as ``httpx.AsyncClient.send`` does."""
        if not self._plain(request, auth, follow_redirects):
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        request.extensions.setdefault("timeout", self.timeout.as_dict())
        started = time.perf_counter()
        try:
            # The transport httpx would pick (a proxy mounted for the URL, or a test double such
            # as respx's that patches this method).
            transport = self._transport_for_url(request.url)
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        if stream:
            assert isinstance(response.stream, httpx.AsyncByteStream)
            response.stream = _TimedStream(response.stream, response, started)
        self.cookies.extract_cookies(response)
        response.default_encoding = getattr(self, "_default_encoding", "utf-8")
        if _httpx_logger.isEnabledFor(logging.INFO):
            _httpx_logger.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
            response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
        return response

    def _plain(self, request: httpx.Request, auth: Any, follow_redirects: Any) -> bool:
        if self.is_closed or auth is not httpx.USE_CLIENT_DEFAULT or self.auth is not None:
            return False
        if follow_redirects is httpx.USE_CLIENT_DEFAULT:
            follow_redirects = self.follow_redirects
        hooks = self.event_hooks
        return (
            follow_redirects is False
            and not hooks["request"]
            and not hooks["response"]
            and isinstance(request.stream, httpx.AsyncByteStream)
        )


def _no_tls_yet() -> ssl.SSLContext:
    """A context that verifies against no certificate at all: it stands in until the pool's
    first HTTPS connection loads the real one, and would refuse any server if ever used."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _transport(transport_class: type[Any], limits: httpx.Limits) -> Any:
    """httpx's default transport with the lean pool, loading certificates on first HTTPS use
    (building a client against a plain-HTTP emulator or local server then loads none)."""
    transport = transport_class(limits=limits, verify=_no_tls_yet())
    if use_lean_pool(transport):
        transport._pool._tls_on_first_use = True
        return transport
    return transport_class(limits=limits)  # pragma: no cover - httpcore without the lean pool


def build_http_client(
    *,
    limits: httpx.Limits,
    timeout: httpx.Timeout,
    mounts: Mapping[str, httpx.BaseTransport | None] | None = None,
) -> httpx.Client:
    """The ``httpx.Client`` a knouds `Client` uses when none is passed in: httpx's defaults (proxy
    and SSL environment variables honoured), the SDK's limits and timeout, no redirects followed,
    the linear-time pool (certificates loaded on first HTTPS use) and cookies parsed only when
    set."""
    transport = _transport(httpx.HTTPTransport, limits)
    client = httpx.Client(
        transport=transport,
        limits=limits,
        timeout=timeout,
        follow_redirects=False,
        mounts=mounts,
    )
    use_set_cookie_only(client)
    return client


def build_async_http_client(
    *,
    limits: httpx.Limits,
    timeout: httpx.Timeout,
    mounts: Mapping[str, httpx.AsyncBaseTransport | None] | None = None,
) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` a knouds `AsyncClient` uses when none is passed in; see
    `build_http_client`."""
    transport = _transport(httpx.AsyncHTTPTransport, limits)
    client = FastSendAsyncClient(
        transport=transport,
        limits=limits,
        timeout=timeout,
        follow_redirects=False,
        mounts=mounts,
    )
    use_set_cookie_only(client)
    return client
