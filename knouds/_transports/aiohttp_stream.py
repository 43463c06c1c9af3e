"""The aiohttp transport behind `DefaultAioHttpClient`, with less per-request work.

``httpx-aiohttp``'s transport turns each ``httpx.Request`` into an aiohttp call and wraps
aiohttp's response in an ``httpx.Response`` whose body is read through two layers of async
generators. `LeanAiohttpTransport` keeps its configuration, its aiohttp session and its error
mapping (``map_aiohttp_exceptions``) and changes only the per-request path:

- headers are handed to aiohttp as one list of ``(name, value)`` pairs (aiohttp otherwise looks
  every header up again in ``httpx.Headers``, a linear scan each time);
- the URL is parsed into a ``yarl.URL`` once per distinct URL, not on every request;
- a body whose ``Content-Length`` is at most `EAGER_READ_LIMIT` bytes (every JSON answer of the
  Knouds API) is read at once and the connection released; httpx then reads those bytes as a
  stream in the same chunks as before (decoding and the SDK's size checks unchanged); larger or
  unsized bodies stream from aiohttp chunk by chunk as before.

Imported only when a `DefaultAioHttpClient` is built (aiohttp is optional).
"""

from __future__ import annotations

import typing

import aiohttp
import httpx
import yarl
from httpx_aiohttp.transport import AiohttpResponseStream, AiohttpTransport, map_aiohttp_exceptions

__all__ = ["EAGER_READ_LIMIT", "LeanAiohttpTransport"]

# Bodies up to this size are read at once (in memory anyway once httpx reads them).
EAGER_READ_LIMIT = 256 * 1024
_URL_CACHE_SIZE = 256
_HTTP_1_1 = b"HTTP/1.1"


class _ReadBody(httpx.AsyncByteStream):
    """A body already read, handed out in the chunks aiohttp's stream would have used."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        body, size = self._body, AiohttpResponseStream.CHUNK_SIZE
        for start in range(0, len(body), size):
            yield body[start : start + size]


class LeanAiohttpTransport(AiohttpTransport):
    """``httpx_aiohttp.AiohttpTransport`` with a shorter per-request path (see the module)."""

    _urls: dict[str, yarl.URL]

    def _url(self, url: httpx.URL) -> yarl.URL:
        text = str(url)
        cache: dict[str, yarl.URL] = self.__dict__.setdefault("_urls", {})
        parsed = cache.get(text)
        if parsed is None:
            if len(cache) >= _URL_CACHE_SIZE:  # execution ids and query strings are unbounded
                cache.clear()
            parsed = cache[text] = yarl.URL(text, encoded=True)
        return parsed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through aiohttp and return the ``httpx.Response``."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
        ]
        data: typing.Any
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # aiohttp frames the streamed body itself
            headers = [pair for pair in headers if pair[0].lower() != "transfer-encoding"]
        proxy = self.proxy
        with map_aiohttp_exceptions():
            response = await self.client.request(
                request.method,
                self._url(request.url),
                headers=headers,
                data=data,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes, as with its own transport
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
                server_hostname=request.extensions.get("sni_hostname"),
                proxy=str(proxy.url) if proxy else None,
                proxy_auth=aiohttp.BasicAuth(*proxy.auth) if proxy and proxy.auth else None,
                proxy_headers=proxy.headers if proxy else None,
            )
            extensions: dict[str, typing.Any] = {"http_version": _HTTP_1_1}
            if response.reason:
                extensions["reason_phrase"] = response.reason.encode()
            length = response.content_length
            if length is not None and length <= EAGER_READ_LIMIT:
                try:
                    body = await response.read()
                finally:
                    response.release()
                # Still a stream for httpx: it decodes (Content-Encoding) chunk by chunk as it
                # reads, so the SDK's checks on encodings and decompressed size apply unchanged.
                return httpx.Response(
                    status_code=response.status,
                    headers=response.raw_headers,
                    stream=_ReadBody(body),
                    request=request,
                    extensions=extensions,
                )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=AiohttpResponseStream(response),
            request=request,
            extensions=extensions,
        )
