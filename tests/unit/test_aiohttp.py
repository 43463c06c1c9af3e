"""The optional aiohttp transport: `AsyncClient` over `DefaultAioHttpClient` against the emulator.

The transport is async-only, so these tests run the async client alone.
"""

from __future__ import annotations

import builtins
import gzip
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

import knouds
from knouds.testing import Emulator, Fault

pytest.importorskip("httpx_aiohttp")

from knouds._transports.aiohttp_stream import EAGER_READ_LIMIT, LeanAiohttpTransport


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[knouds.AsyncClient]:
    http = knouds.DefaultAioHttpClient()
    async with http, knouds.AsyncClient(emu.api_key, base_url=emu.base_url, http_client=http) as c:
        yield c


def model_requests(emu: Emulator) -> list[int | None]:
    return [e.status for e in emu.log if e.path.startswith("/api/models/")]


async def test_it_is_an_httpx_async_client_with_the_sdk_defaults() -> None:
    from httpx_aiohttp import HttpxAiohttpClient

    async with knouds.DefaultAioHttpClient() as http:
        assert isinstance(http, HttpxAiohttpClient)
        assert isinstance(http, httpx.AsyncClient)
        assert http.timeout == httpx.Timeout(600.0, connect=10.0)
        assert http.follow_redirects is False
    async with knouds.DefaultAioHttpClient(timeout=5) as http:
        assert http.timeout == httpx.Timeout(5.0)


async def test_a_run_end_to_end(emu: Emulator, client: knouds.AsyncClient) -> None:
    result = await client.models.run("gpt-image-2", {"prompt": "a red fox", "num_images": 2})
    assert len(result.images) == 2
    assert result.cost == 4
    assert result.rate_limit is not None
    assert result.rate_limit.remaining == result.rate_limit.limit - 1
    assert emu.run_count("gpt-image-2") == 1
    assert emu.log[-1].key_id is not None


async def test_error_statuses_map_to_knouds_errors(
    emu: Emulator, client: knouds.AsyncClient
) -> None:
    with pytest.raises(knouds.ModelNotFoundError):
        await client.models.run("no-such-model", {"prompt": "x"})
    denied = client.with_options(api_key=emu.create_key(capabilities={"workflow:run"}))
    with pytest.raises(knouds.CapabilityDeniedError) as info:
        await denied.models.run("gpt-image-2", {"prompt": "x"})
    assert info.value.status_code == 403
    assert info.value.required == "model:run"
    assert emu.run_count("gpt-image-2") == 0


async def test_429_is_waited_out_and_the_run_happens_once(
    emu: Emulator, client: knouds.AsyncClient
) -> None:
    emu.inject(Fault.rate_limited(retry_after=0.05), times=2, path="/api/models/")
    result = await client.models.run("gpt-image-2", {"prompt": "once"})
    assert result.images
    assert model_requests(emu) == [429, 429, 200]
    assert emu.run_count("gpt-image-2") == 1


async def test_a_dropped_connection_is_an_unknown_outcome_and_not_resent(
    emu: Emulator, client: knouds.AsyncClient
) -> None:
    # httpx-aiohttp reports a server disconnect as ConnectTimeout ("never sent"); the SDK's
    # wrapper must not let that turn into a retried, possibly charged, run.
    emu.inject(Fault.drop(), path="/api/models/")
    with pytest.raises(knouds.APIConnectionError) as info:
        await client.models.run("gpt-image-2", {"prompt": "x"})
    assert not isinstance(info.value, knouds.APITimeoutError)
    assert info.value.sent is True
    assert len(model_requests(emu)) == 1


async def test_an_unreachable_server_is_not_sent_and_is_retried() -> None:
    with Emulator() as emu:
        base_url, key = emu.base_url, emu.api_key
    events: list[knouds.RetryEvent] = []
    policy = knouds.RetryPolicy(max_retries=1, initial_backoff=0, on_retry=events.append)
    async with (
        knouds.DefaultAioHttpClient() as http,
        knouds.AsyncClient(key, base_url=base_url, http_client=http, retry=policy) as client,
    ):
        with pytest.raises(knouds.APIConnectionError) as info:
            await client.models.run("gpt-image-2", {"prompt": "x"})
    assert info.value.sent is False
    assert [e.reason for e in events] == ["not_sent"]


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "httpx_aiohttp" or name.startswith("httpx_aiohttp."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r'pip install "knouds\[aiohttp\]"') as info:
        knouds.DefaultAioHttpClient()
    assert 'pip install ".[aiohttp]"' in str(info.value)  # the form for a checkout


# -- the adapter's short path ----------------------------------------------------------------------


class _BodyServer:
    """Answers each request with the body chosen by its path: ``/gzip`` a gzip-encoded JSON
    body, ``/large`` a body above the eager-read limit, ``/chunked`` a chunked one; it records
    the request heads it received."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(5)
        self.base = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> _BodyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._sock.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        conn.settimeout(5)
        with conn:
            buffer = b""
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    self.heads.append(head)
                    conn.sendall(self._answer(head.split(b" ")[1]))

    @staticmethod
    def _answer(path: bytes) -> bytes:
        if path == b"/chunked":
            return (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
        if path == b"/gzip":
            body = gzip.compress(b'{"success": true, "result": "zipped"}')
            extra = b"content-encoding: gzip\r\n"
        else:
            body = b"x" * (EAGER_READ_LIMIT + 1)
            extra = b""
        return b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n%s" % (extra, len(body), body)


async def test_bodies_of_every_kind_read_the_same_over_the_short_path() -> None:
    with _BodyServer() as server:
        async with knouds.DefaultAioHttpClient() as http:
            zipped = await http.get(f"{server.base}/gzip", headers={"X-Custom": "Yes"})
            assert zipped.json() == {"success": True, "result": "zipped"}
            assert zipped.elapsed.total_seconds() >= 0
            large = await http.get(f"{server.base}/large")
            assert len(large.content) == EAGER_READ_LIMIT + 1
            chunked = await http.get(f"{server.base}/chunked")
            assert chunked.content == b"hello world"
            async with http.stream("GET", f"{server.base}/large") as streamed:
                total = 0
                async for chunk in streamed.aiter_bytes():
                    total += len(chunk)
            assert total == EAGER_READ_LIMIT + 1
    assert len(server.heads) == 4
    assert b"\r\nx-custom: yes" in server.heads[0].lower()


def test_parsed_urls_are_remembered_and_bounded() -> None:
    transport = LeanAiohttpTransport()
    first = transport._url(httpx.URL("http://127.0.0.1:1/api/models/a/run"))
    assert transport._url(httpx.URL("http://127.0.0.1:1/api/models/a/run")) is first
    for index in range(300):
        transport._url(httpx.URL(f"http://127.0.0.1:1/api/executions/e{index}"))
    assert len(transport._urls) <= 256
    assert str(transport._url(httpx.URL("http://h/a%20b?q=1"))) == "http://h/a%20b?q=1"
