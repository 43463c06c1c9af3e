"""The SDK's own httpx clients: the linear-time pool, the short ``send`` and lazy cookie parsing.

The pool is exercised over real loopback sockets (a tiny keep-alive HTTP server in a thread),
for the sync and the async client; ``send``'s short path is compared with httpx's own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpcore
import httpx
import pytest

import knouds
import knouds._transports.pool
from knouds._core.attempt import new_request
from knouds._transports.pool import (
    FastSendAsyncClient,
    LeanAsyncConnectionPool,
    LeanConnectionPool,
    SetCookieOnlyCookies,
    build_async_http_client,
    build_http_client,
    use_lean_pool,
)

LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=2)
TIMEOUT = httpx.Timeout(10.0)


class KeepAliveServer:
    """Answers every request with a small JSON body after ``delay`` seconds, keeping connections
    open; counts the connections it accepted."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/x"

    def __enter__(self) -> KeepAliveServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        buffer = b""
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    _, buffer = buffer.split(b"\r\n\r\n", 1)
                    self._stop.wait(self.delay)
                    body = b'{"ok": true}'
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(body), body)
                    )


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    with KeepAliveServer() as running:
        yield running


def test_the_sdk_clients_use_the_lean_pool_and_the_cookie_jar() -> None:
    sync_client = build_http_client(limits=LIMITS, timeout=TIMEOUT)
    async_client = build_async_http_client(limits=LIMITS, timeout=TIMEOUT)
    assert type(sync_client._transport._pool) is LeanConnectionPool  # type: ignore[attr-defined]
    assert type(async_client._transport._pool) is LeanAsyncConnectionPool  # type: ignore[attr-defined]
    assert isinstance(async_client, FastSendAsyncClient)
    for client in (sync_client, async_client):
        assert isinstance(client.cookies, SetCookieOnlyCookies)
        assert client.follow_redirects is False
        assert client.timeout == TIMEOUT
    sync_client.close()
    with knouds.Client("knouds_live_x", base_url="http://127.0.0.1:9") as knouds_client:
        assert type(knouds_client._http._transport._pool) is LeanConnectionPool  # type: ignore[attr-defined]


@pytest.mark.parametrize("build", [build_http_client, build_async_http_client])
def test_certificates_are_loaded_for_the_first_https_connection_only(build: Any) -> None:
    client = build(limits=LIMITS, timeout=TIMEOUT)
    pool: Any = client._transport._pool
    assert pool._ssl_context.cert_store_stats()["x509_ca"] == 0  # nothing loaded yet
    pool.create_connection(httpcore.Origin(b"http", b"127.0.0.1", 8000))
    assert pool._ssl_context.cert_store_stats()["x509_ca"] == 0
    connection = pool.create_connection(httpcore.Origin(b"https", b"knouds.test", 443))
    loaded = pool._ssl_context
    assert loaded.cert_store_stats()["x509_ca"] > 0  # httpx's default bundle
    assert loaded.verify_mode == ssl.CERT_REQUIRED
    assert loaded.check_hostname
    assert connection._ssl_context is loaded
    pool.create_connection(httpcore.Origin(b"https", b"other.test", 443))
    assert pool._ssl_context is loaded  # loaded once


def test_only_stock_http1_pools_are_switched() -> None:
    assert not use_lean_pool(httpx.HTTPTransport(http2=True, http1=True))
    assert not use_lean_pool(httpx.HTTPTransport(proxy="http://127.0.0.1:3128"))
    assert not use_lean_pool(httpx.MockTransport(lambda request: httpx.Response(200)))
    assert use_lean_pool(httpx.AsyncHTTPTransport())


def test_an_httpcore_other_than_1_0_keeps_its_own_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(knouds._transports.pool, "_KNOWN_HTTPCORE", False)
    transport = httpx.AsyncHTTPTransport()
    assert not use_lean_pool(transport)
    assert type(transport._pool) is httpcore.AsyncConnectionPool


def test_sync_pool_under_threads_stays_within_its_limits(server: KeepAliveServer) -> None:
    client = build_http_client(limits=LIMITS, timeout=TIMEOUT)
    with client, ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda _: client.get(server.url).status_code, range(48)))
        pool_state: Any = client._transport._pool  # type: ignore[attr-defined]
        assert len(pool_state.connections) <= 4
        assert not pool_state._requests
    assert statuses == [200] * 48
    # Connections are reused: far fewer than one per request, never more than the limit at once.
    assert server.connections <= 12


async def test_async_pool_queues_beyond_its_limit_and_reuses_connections(
    server: KeepAliveServer,
) -> None:
    async with build_async_http_client(limits=LIMITS, timeout=TIMEOUT) as client:
        pool: Any = client._transport._pool  # type: ignore[attr-defined]
        in_use: list[int] = []

        async def get() -> int:
            in_use.append(sum(not c.is_idle() for c in pool.connections))
            return (await client.get(server.url)).status_code

        statuses = await asyncio.gather(*(get() for _ in range(40)))
        assert statuses == [200] * 40
        assert max(in_use) <= 4
        assert len(pool.connections) <= 2
        assert not pool._requests
    assert server.connections <= 12


async def test_a_cancelled_request_frees_its_place_for_the_queued_ones(
    server: KeepAliveServer,
) -> None:
    server.delay = 0.2
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with build_async_http_client(limits=limits, timeout=TIMEOUT) as client:
        first = asyncio.ensure_future(client.get(server.url))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(client.get(server.url))
        await asyncio.sleep(0.01)
        first.cancel()
        assert (await asyncio.wait_for(second, 5)).status_code == 200
        with pytest.raises(asyncio.CancelledError):
            await first


def test_expired_and_surplus_idle_connections_are_closed(server: KeepAliveServer) -> None:
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=1, keepalive_expiry=0.0)
    client = build_http_client(limits=limits, timeout=TIMEOUT)
    with client, ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: client.get(server.url).status_code, range(8))) == [200] * 8
        # keepalive_expiry=0: every idle connection has expired by the next request's planning.
        assert client.get(server.url).status_code == 200
        pool_state: Any = client._transport._pool  # type: ignore[attr-defined]
        assert len(pool_state.connections) <= 1


# -- the short send --------------------------------------------------------------------------------


def _answer(request: httpx.Request) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if request.url.path == "/s":  # a body not yet read
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b'{"path": "/s"}'))
    if request.url.path == "/cookie":
        headers["set-cookie"] = "session=abc; Path=/"
    return httpx.Response(200, headers=headers, json={"path": request.url.path})


async def test_short_send_matches_httpx_send(caplog: pytest.LogCaptureFixture) -> None:
    transport = httpx.MockTransport(_answer)
    fast = FastSendAsyncClient(transport=transport, follow_redirects=False)
    plain = httpx.AsyncClient(transport=transport, follow_redirects=False)
    async with fast, plain:
        with caplog.at_level(logging.INFO, logger="httpx"):
            ours = await fast.send(httpx.Request("GET", "http://test/a"))
        theirs = await plain.send(httpx.Request("GET", "http://test/a"))
        assert ours.json() == theirs.json() == {"path": "/a"}
        assert ours.is_closed
        assert ours.is_stream_consumed
        assert ours.elapsed.total_seconds() >= 0
        assert ours.request.extensions["timeout"] == fast.timeout.as_dict()
        assert ours.encoding == theirs.encoding == "utf-8"
        assert any("HTTP Request: GET http://test/a" in r.getMessage() for r in caplog.records)


async def test_short_send_keeps_cookies_and_skips_parsing_without_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = build_async_http_client(limits=LIMITS, timeout=TIMEOUT)
    client._transport = httpx.MockTransport(_answer)
    parsed: list[str] = []
    original = httpx.Cookies.extract_cookies

    def spy(self: httpx.Cookies, response: httpx.Response) -> None:
        parsed.append(response.url.path)
        original(self, response)

    monkeypatch.setattr(httpx.Cookies, "extract_cookies", spy)
    async with client:
        await client.send(httpx.Request("GET", "http://test/plain"))
        await client.send(httpx.Request("GET", "http://test/cookie"))
    assert parsed == ["/cookie"]
    assert client.cookies.get("session") == "abc"


async def test_requests_the_short_path_cannot_take_go_through_httpx() -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    transport = httpx.MockTransport(_answer)
    async with FastSendAsyncClient(transport=transport, event_hooks={"request": [hook]}) as hooked:
        await hooked.send(httpx.Request("GET", "http://test/hooked"))
    async with FastSendAsyncClient(transport=transport, auth=("user", "pass")) as authed:
        response = await authed.send(httpx.Request("GET", "http://test/auth"))
        assert response.request.headers["authorization"].startswith("Basic ")
    assert seen == ["/hooked"]
    closed = FastSendAsyncClient(transport=transport)
    await closed.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await closed.send(httpx.Request("GET", "http://test/x"))


async def test_short_send_uses_the_transport_mounted_for_the_url() -> None:
    def mounted(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"via": "mount"})

    mounts = {"http://mounted": httpx.MockTransport(mounted)}
    async with FastSendAsyncClient(transport=httpx.MockTransport(_answer), mounts=mounts) as client:
        assert (await client.send(httpx.Request("GET", "http://mounted/x"))).json() == {
            "via": "mount"
        }
        assert (await client.send(httpx.Request("GET", "http://other/x"))).json() == {"path": "/x"}


async def test_respx_mocks_the_sdk_clients_with_either_mocker() -> None:
    import respx

    url = "http://127.0.0.1:9/api/whoami"
    async with build_async_http_client(limits=LIMITS, timeout=TIMEOUT) as client:
        with respx.mock() as mock:  # patches httpcore: the lean pool is an httpcore pool
            mock.get(url).respond(200, json={"via": "httpcore"})
            assert (await client.get(url)).json() == {"via": "httpcore"}
        with respx.mock(using="httpx") as mock:  # patches the client's transport lookup
            mock.get(url).respond(200, json={"via": "httpx"})
            assert (await client.send(httpx.Request("GET", url))).json() == {"via": "httpx"}


async def test_a_streamed_response_is_read_when_asked_and_timed_when_closed() -> None:
    async with FastSendAsyncClient(transport=httpx.MockTransport(_answer)) as client:
        response = await client.send(httpx.Request("GET", "http://test/s"), stream=True)
        assert not response.is_stream_consumed
        with pytest.raises(RuntimeError):
            _ = response.elapsed  # not before the body is read and closed
        assert (await response.aread()) == b'{"path": "/s"}'
        assert response.is_closed
        assert response.elapsed.total_seconds() >= 0


async def test_short_send_attaches_the_request_to_transport_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with FastSendAsyncClient(transport=httpx.MockTransport(refuse)) as client:
        request = httpx.Request("GET", "http://test/x")
        with pytest.raises(httpx.ConnectError) as info:
            await client.send(request)
    assert info.value.request is request


def test_building_a_client_builds_the_run_result_validator() -> None:
    code = (
        "import knouds\n"
        "before = knouds.RunResult.__pydantic_complete__\n"
        "knouds.Client('knouds_live_x', base_url='http://127.0.0.1:9')\n"
        "print(before, knouds.RunResult.__pydantic_complete__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "True"]


def test_lean_pools_are_httpcore_pools() -> None:
    assert issubclass(LeanConnectionPool, httpcore.ConnectionPool)
    assert issubclass(LeanAsyncConnectionPool, httpcore.AsyncConnectionPool)


# -- requests built the short way ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params", "content"),
    [
        ("POST", None, b'{"inputs": {"prompt": "a fox"}}'),
        ("POST", {"async": "true"}, b"{}"),
        ("POST", None, None),
        ("GET", None, None),
        ("GET", {"page": "2"}, None),
    ],
)
def test_requests_built_the_short_way_equal_httpx_requests(
    method: str, params: dict[str, str] | None, content: bytes | None
) -> None:
    url = httpx.URL("https://knouds.test:8443/api/models/gpt-image-2/run?x=1")
    headers = {"user-agent": "knouds-test", "x-api-key": "k", "content-type": "application/json"}
    extensions: dict[str, object] = {"timeout": TIMEOUT.as_dict()}
    ours = new_request(
        method, url, params=params, headers=headers, content=content, extensions=extensions
    )
    theirs = httpx.Request(
        method, url, params=params, headers=headers, content=content, extensions=extensions
    )
    assert ours.method == theirs.method
    assert ours.url == theirs.url
    assert sorted(ours.headers.multi_items()) == sorted(theirs.headers.multi_items())
    assert ours.content == theirs.content
    assert ours.extensions == theirs.extensions
    assert headers == {
        "user-agent": "knouds-test",
        "x-api-key": "k",
        "content-type": "application/json",
    }


def test_the_command_skips_the_pydantic_plugin_lookup_unless_asked() -> None:
    code = (
        "import os, sys, runpy\n"
        "sys.argv = ['knouds', '--version']\n"
        "try:\n"
        "    runpy.run_module('knouds', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(repr(os.environ.get('PYDANTIC_DISABLE_PLUGINS')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert run.stdout.splitlines()[-1] == "'__all__'"
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "PYDANTIC_DISABLE_PLUGINS": ""},
        timeout=60,
    )
    assert run.stdout.splitlines()[-1] == "''"
