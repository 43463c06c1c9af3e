"""An httpx transport running the emulator in-process, for sync and async clients alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx

from knouds.testing._app import App
from knouds.testing._http import ChunkSource, Outcome, Request, Response


class _Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, source: ChunkSource) -> None:
        self._source = source

    def __iter__(self) -> Iterator[bytes]:
        yield from self._source()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._source():
            yield chunk


class EmulatorTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Serve requests from the emulator without sockets.

    Works with both ``httpx.Client(transport=...)`` and ``httpx.AsyncClient(transport=...)``,
    and without starting the emulator's server. Media URLs in results use the base URL the request
    was made with. A dropped connection raises ``httpx.RemoteProtocolError``.

    Args:
        app: The emulator's request handling.
    """

    def __init__(self, app: App) -> None:
        self._app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer a request from a sync client."""
        outcome = self._app.handle(_convert(request, request.read()))
        if outcome.delay > 0:
            time.sleep(outcome.delay)
        return _respond(request, outcome)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer a request from an async client."""
        outcome = self._app.handle(_convert(request, await request.aread()))
        if outcome.delay > 0:
            await asyncio.sleep(outcome.delay)
        return _respond(request, outcome)


def _convert(request: httpx.Request, body: bytes) -> Request:
    url = request.url
    return Request(
        method=request.method,
        path=url.path,
        query=dict(url.params.multi_items()),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        base_url=f"{url.scheme}://{url.netloc.decode('ascii')}",
    )


def _respond(request: httpx.Request, outcome: Outcome) -> httpx.Response:
    response: Response | None = outcome.response
    if response is None:
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    stream: httpx.SyncByteStream | httpx.AsyncByteStream
    if request.method == "HEAD":
        stream = httpx.ByteStream(b"")
    elif response.stream is not None:
        stream = _Chunks(response.stream)
    else:
        stream = httpx.ByteStream(response.body)
    return httpx.Response(response.status, headers=response.headers, stream=stream, request=request)
