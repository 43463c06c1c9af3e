"""An optional aiohttp transport for `AsyncClient`: more requests per second at high concurrency.

httpx's own async transport spends noticeably more CPU per request than aiohttp once hundreds of
requests are in flight. `DefaultAioHttpClient` builds an ``httpx.AsyncClient`` that sends through
aiohttp (via the ``httpx-aiohttp`` package) with the SDK's connection limits and timeouts, so the
rest of the SDK (retries, pacing, errors) is unchanged.

aiohttp is optional: ``pip install "knouds[aiohttp]"``. Nothing here imports it until a client is
built.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .._core.settings import DEFAULT_LIMITS, DEFAULT_TIMEOUT, to_timeout
from .._public import publish
from .._types import TimeoutTypes
from .pool import FastSendAsyncClient, use_set_cookie_only

__all__ = ["DefaultAioHttpClient"]

_INSTALL_HINT = (
    'DefaultAioHttpClient needs the optional aiohttp transport: pip install "knouds[aiohttp]" '
    '(from a checkout of the repository: pip install ".[aiohttp]"), which installs '
    "httpx-aiohttp and aiohttp"
)


# Named like a class, as openai and anthropic name theirs: users pass `DefaultAioHttpClient()`.
def DefaultAioHttpClient(
    *,
    timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    limits: httpx.Limits = DEFAULT_LIMITS,
    proxy: str | httpx.URL | None = None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that sends through aiohttp, for `AsyncClient(http_client=...)`.

    It keeps the SDK's defaults: up to 2000 connections (200 kept alive), 10 s to connect and
    10 minutes to read, no redirects followed. Failures are reported as the same httpx errors
    the default transport raises, sorted by whether the request may have reached the server, so
    a run that may have been charged is never retried by default. The SDK does not close a client
    you pass in: close it yourself (``await http_client.aclose()``) or use ``async with``.

    Args:
        timeout: seconds (or an ``httpx.Timeout``) for each request; ``None`` disables it.
        limits: connection pool limits (``max_connections`` and ``keepalive_expiry`` are used).
        proxy: an HTTP proxy URL. Proxy environment variables are not read.
        **kwargs: passed to the ``httpx.AsyncClient`` constructor (``headers``, ``verify``,
            ``trust_env``, ...).

    Returns:
        An ``httpx_aiohttp.HttpxAiohttpClient`` (an ``httpx.AsyncClient``) whose ``send``
        takes a shorter path for plain requests (no auth, hooks or redirects to follow).

    Raises:
        ImportError: ``httpx-aiohttp`` is not installed; the message says how to install it.

    Example:
        >>> http_client = knouds.DefaultAioHttpClient()  # doctest: +SKIP
        >>> client = knouds.AsyncClient(http_client=http_client)  # doctest: +SKIP
    """
    try:
        from httpx_aiohttp import HttpxAiohttpClient

        from .aiohttp_stream import LeanAiohttpTransport
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    inner = LeanAiohttpTransport(
        verify=kwargs.get("verify", True),
        trust_env=kwargs.get("trust_env", True),
        limits=limits,
        proxy=httpx.Proxy(proxy) if proxy is not None else None,
    )
    kwargs.setdefault("follow_redirects", False)
    client = _client_class(HttpxAiohttpClient)(
        transport=_SafeTransport(inner), limits=limits, timeout=to_timeout(timeout), **kwargs
    )
    use_set_cookie_only(client)
    return client


@functools.cache
def _client_class(base: type[httpx.AsyncClient]) -> type[httpx.AsyncClient]:
    """``HttpxAiohttpClient`` with the SDK's shorter ``send`` (built once, on first use: the
    base class comes from the optional package)."""
    return type("AioHttpClient", (FastSendAsyncClient, base), {"__module__": __name__})


def _never_sent(error: BaseException) -> bool:
    """Whether the aiohttp failure behind an httpx connect error happened before sending."""
    import aiohttp

    cause = error.__cause__
    timeout_error = getattr(aiohttp, "ConnectionTimeoutError", None)  # aiohttp >= 3.10
    return isinstance(cause, aiohttp.ClientConnectorError) or (
        timeout_error is not None and isinstance(cause, timeout_error)
    )


def _unknown_outcome(error: httpx.TransportError, request: httpx.Request) -> httpx.ReadError:
    return httpx.ReadError(f"the connection failed after sending: {error}", request=request)


_HTTPX_ERRORS = (httpx.HTTPError, httpx.StreamError)


def _foreign(error: Exception, request: httpx.Request) -> httpx.ReadError:
    """An aiohttp failure ``httpx-aiohttp`` lets through unmapped (a malformed status line gives
    ``aiohttp.ClientResponseError``): sent, outcome unknown. Its own text shows the URL with its
    query (a presigned signature) and its ``repr`` the request's headers (the API key), so only
    its kind and its ``message`` are kept, and it is not chained."""
    message = getattr(error, "message", None)
    detail = f": {message}" if isinstance(message, str) and message else ""
    return httpx.ReadError(
        f"the connection failed after sending: {type(error).__name__}{detail}", request=request
    )


class _SafeTransport(httpx.AsyncBaseTransport):
    """Wraps the aiohttp transport so failures say truthfully whether the request was sent, and
    are all httpx errors.

    ``httpx-aiohttp`` maps every ``aiohttp.ClientConnectionError`` (including a server that
    disconnects after receiving the request) to ``httpx.ConnectTimeout``, which means "never
    sent" and would make a billable run look safe to retry. Here only failures aiohttp raises
    while connecting keep a connect error; the rest become ``httpx.ReadError`` (outcome unknown),
    as does any aiohttp error it does not map at all (see `_foreign`).
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        foreign: httpx.ReadError | None = None
        try:
            response = await self._inner.handle_async_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            if _never_sent(exc):
                raise
            raise _unknown_outcome(exc, request) from exc
        except _HTTPX_ERRORS:
            raise
        except Exception as exc:
            foreign = _foreign(exc, request)
        if foreign is not None:
            raise foreign  # outside the handler: the aiohttp error is not even its context
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _SafeStream(stream, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _SafeStream(httpx.AsyncByteStream):
    """A response body stream whose failures all mean "sent, outcome unknown"."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        foreign: httpx.ReadError | None = None
        try:
            async for chunk in self._inner:
                yield chunk
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise _unknown_outcome(exc, self._request) from exc
        except _HTTPX_ERRORS:
            raise
        except Exception as exc:
            foreign = _foreign(exc, self._request)
        if foreign is not None:
            raise foreign

    async def aclose(self) -> None:
        await self._inner.aclose()


publish(globals())
