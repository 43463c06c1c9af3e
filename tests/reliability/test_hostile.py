"""Promises that hold whatever the server does: raw-socket servers on 127.0.0.1 misbehave on
purpose (drip headers or body, never end, inflate a gzip bomb, break HTTP, answer 429 with long
waits, say nothing) and every public call still ends in time with a knouds error.

Each test runs on the sync client, the async client and (where it is about the transport) the
async client over aiohttp. The servers are bounded in bytes and seconds and stopped by the test.
"""

from __future__ import annotations

import asyncio
import gc
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

import knouds
from tests._support.hostile import (
    HostileServer,
    chunked_forever,
    drip_body,
    drip_headers,
    gzip_bomb,
    respond,
    silent,
)
from tests.conftest import resolve

API_KEY = "knouds_live_hostile_0123456789abcdef"
INPUTS = {"prompt": "a fox"}
# These machines are shared and loaded: a bound holds when the call ends within it plus this.
SLACK = 1.5
EXEC_ID = "0d6c3f4e-5b1a-4c1e-9d7a-2f8b6e4a1c3d"


@pytest.fixture(params=["sync", "async", "aiohttp"])
def transport_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def connect(transport_kind: str) -> AsyncIterator[Callable[..., Any]]:
    """``connect(server, **client_kwargs)``: a real client of the given kind, closed after."""
    made: list[Any] = []

    def factory(server: HostileServer, **kwargs: Any) -> Any:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", server.base_url)
        kwargs.setdefault("max_retries", 0)
        if transport_kind == "sync":
            client: Any = knouds.Client(**kwargs)
        else:
            if transport_kind == "aiohttp":
                kwargs["http_client"] = knouds.DefaultAioHttpClient()
            client = knouds.AsyncClient(**kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        await resolve(client.close())
        if transport_kind == "aiohttp":
            await client._http.aclose()


async def timed(call: Callable[[], Any]) -> tuple[BaseException | None, float]:
    """Run a call; what it raised (or ``None``) and how long it took, in real seconds."""
    start = time.monotonic()
    try:
        await resolve(call())
    except BaseException as exc:  # the test inspects whatever came out
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


# -- time: every bound is a wall-clock bound -------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour", [drip_headers(0.1), drip_body(0.1), silent()], ids=["headers", "body", "silent"]
)
async def test_a_call_ends_within_its_timeout_whatever_the_server_drips(
    connect: Callable[..., Any], behaviour: Any
) -> None:
    with HostileServer(behaviour) as server:
        client = connect(server, timeout=0.6)
        error, took = await timed(lambda: client.models.run("gpt-image-2", INPUTS))

    assert isinstance(error, knouds.APITimeoutError), repr(error)
    assert error.sent is True
    assert took < 0.6 + SLACK


def test_the_bound_holds_through_an_httpx_client_of_your_own() -> None:
    with HostileServer(drip_headers(0.05)) as server, httpx.Client() as http:
        client = knouds.Client(API_KEY, base_url=server.base_url, http_client=http, timeout=0.6)
        start = time.monotonic()
        with pytest.raises(knouds.APITimeoutError):
            client.models.run("gpt-image-2", INPUTS)
        took = time.monotonic() - start

    assert took < 0.6 + SLACK


async def test_a_deadline_bounds_a_call_whose_headers_never_end(
    connect: Callable[..., Any],
) -> None:
    policy = knouds.RetryPolicy(deadline=0.6, max_retries=3)
    with HostileServer(drip_headers(0.05)) as server:
        client = connect(server, retry=policy)
        error, took = await timed(lambda: client.whoami())

    assert isinstance(error, knouds.APITimeoutError), repr(error)
    assert took < 0.6 + SLACK


async def test_a_call_that_never_got_connected_in_time_says_nothing_was_sent(
    client_kind: str,
) -> None:
    # The server takes the TCP connection but never answers the TLS handshake: the request
    # never left, so the error says so (and a run may be retried) on both clients.
    with HostileServer(silent()) as server:
        kwargs: dict[str, Any] = {"base_url": f"https://127.0.0.1:{server.port}", "timeout": 0.6}
        cls = knouds.Client if client_kind == "sync" else knouds.AsyncClient
        client: Any = cls(API_KEY, max_retries=1, **kwargs)
        error, took = await timed(lambda: client.models.run("gpt-image-2", INPUTS))
        await resolve(client.close())
        gc.collect()  # a socket left open by the cut-off handshake would warn here

    assert isinstance(error, knouds.APITimeoutError), repr(error)
    assert error.sent is False
    assert "nothing was sent" in str(error)
    assert server.requests == []
    assert server.connections == 2  # not sent, so the run was tried again
    assert took < 2 * 0.6 + 2 * SLACK


def test_a_handshake_with_no_time_left_closes_its_connection() -> None:
    import httpcore

    from knouds._transports.deadline import SEND_DEADLINE, DeadlineBackend

    class Stream(httpcore.NetworkStream):
        closed = False

        def close(self) -> None:
            self.closed = True

    class Backend(httpcore.NetworkBackend):
        def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            return stream

    stream = Stream()
    tcp = DeadlineBackend(Backend()).connect_tcp("127.0.0.1", 443, timeout=5.0)
    token = SEND_DEADLINE.set(time.monotonic() - 1)  # connecting used up all the time
    try:
        with pytest.raises(httpcore.ConnectTimeout):
            tcp.start_tls(ssl.create_default_context(), "localhost", timeout=5.0)
    finally:
        SEND_DEADLINE.reset(token)

    assert stream.closed


async def test_an_endless_body_stops_at_the_size_cap(connect: Callable[..., Any]) -> None:
    with HostileServer(chunked_forever(), max_bytes=64 << 20) as server:
        client = connect(server, max_response_bytes=1 << 20)
        error, took = await timed(lambda: client.models.run("gpt-image-2", INPUTS))

    assert isinstance(error, knouds.APIResponseValidationError), repr(error)
    assert "max_response_bytes" in str(error)
    assert took < SLACK


async def test_a_gzip_bomb_is_caught_on_decompressed_bytes(connect: Callable[..., Any]) -> None:
    # 48 MiB of spaces compress to about 50 KB: over the default cap of 32 MiB only once inflated.
    with HostileServer(gzip_bomb(48 << 20)) as server:
        client = connect(server)
        error, took = await timed(lambda: client.models.run("gpt-image-2", INPUTS))

    assert isinstance(error, knouds.APIResponseValidationError), repr(error)
    assert "32" in str(error) or "bytes" in str(error)
    assert took < 3 * SLACK


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br"])
async def test_an_encoding_the_sdk_did_not_ask_for_is_not_read(
    connect: Callable[..., Any], encoding: str
) -> None:
    # Brotli and zstd inflate a few kilobytes into gigabytes inside one decompression step,
    # before any cap can look (when their packages are installed): the SDK does not ask for
    # them, and does not read a body that uses them anyway.
    body = b'{"success": true, "result": {"text": "ok"}, "cost": 1, "ms": 5}'
    with HostileServer(respond(body=body, headers={"content-encoding": encoding})) as server:
        client = connect(server)
        error, took = await timed(lambda: client.models.run("gpt-image-2", INPUTS))

    assert isinstance(error, knouds.APIConnectionError), repr(error)
    assert encoding in str(error)
    assert error.sent is True
    assert b"accept-encoding: gzip, deflate\r\n" in server.requests[0].lower()
    assert took < SLACK


# -- errors: only knouds errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour",
    [
        respond(status_line=b"HTTP/1.1 OK-ISH"),
        respond(status_line=b"\x00\x01garbage"),
        respond(headers={"x-huge": "a" * 200_000}),
    ],
    ids=["bad-status-line", "binary-garbage", "oversized-header"],
)
async def test_broken_http_becomes_a_knouds_error(
    connect: Callable[..., Any], behaviour: Any
) -> None:
    with HostileServer(behaviour) as server:
        client = connect(server, timeout=2.0)
        error, took = await timed(lambda: client.models.run("gpt-image-2", INPUTS))

    assert isinstance(error, knouds.KnoudsError), repr(error)
    assert not [text for text in _shown(error) if API_KEY.split("_")[-1] in text]
    assert took < 2.0 + SLACK


def _shown(error: BaseException) -> list[str]:
    """The text and ``repr`` of an error and of every error it is chained to."""
    shown: list[str] = []
    cause: BaseException | None = error
    while cause is not None:
        shown += [str(cause), repr(cause)]
        cause = cause.__cause__ or cause.__context__
    return shown


SIGNATURE = "X-Amz-Signature=presignedcanary0123456789"


@pytest.mark.parametrize(
    "behaviour",
    [respond(status_line=b"HTTP/1.1 OK-ISH"), respond(status_line=b"\x00\x01garbage")],
    ids=["bad-status-line", "binary-garbage"],
)
async def test_a_broken_media_server_gives_a_media_download_error_without_the_signature(
    transport_kind: str, behaviour: Any
) -> None:
    with HostileServer(behaviour) as server:
        media = knouds.Media(url=f"{server.base_url}/out/a.png?{SIGNATURE}")
        if transport_kind == "sync":
            error, took = await timed(lambda: media.read(timeout=2.0))
        else:
            http = knouds.DefaultAioHttpClient() if transport_kind == "aiohttp" else None
            error, took = await timed(lambda: media.aread(timeout=2.0, http_client=http))
            if http is not None:
                await http.aclose()

    assert isinstance(error, knouds.MediaDownloadError), repr(error)
    assert not [text for text in _shown(error) if "presignedcanary" in text]
    assert took < 2.0 + SLACK


async def test_a_closed_client_raises_a_knouds_error_and_sends_nothing(
    connect: Callable[..., Any],
) -> None:
    with HostileServer(respond()) as server:
        client = connect(server)
        await resolve(client.close())
        error, _ = await timed(lambda: client.models.run("gpt-image-2", INPUTS))

    assert isinstance(error, knouds.APIConnectionError), repr(error)
    assert error.sent is False
    assert server.requests == []


# -- executions.wait ends in time ------------------------------------------------------------------


def _rate_limited(retry_after: float) -> Any:
    body = b'{"error": "Rate limit exceeded", "code": "RATE_LIMIT_EXCEEDED"}'
    return respond(429, body, {"retry-after": f"{retry_after:g}"})


# The transport's own bounds are covered above; wait's are the same code on every transport.
@pytest.mark.parametrize("transport_kind", ["sync", "async"])
@pytest.mark.parametrize(
    "behaviour",
    [_rate_limited(100), _rate_limited(30), silent(), drip_body(0.1)],
    ids=["429-beyond-max-wait", "429-within-max-wait", "silent", "slow-body"],
)
async def test_wait_ends_within_its_timeout_whatever_each_poll_meets(
    connect: Callable[..., Any], behaviour: Any
) -> None:
    with HostileServer(behaviour) as server:
        client = connect(server, max_retries=2)
        error, took = await timed(
            lambda: client.executions.wait(EXEC_ID, timeout=0.8, poll_interval=0.05)
        )

    assert isinstance(error, knouds.ExecutionTimeoutError), repr(error)
    assert error.execution_id == EXEC_ID
    assert took < 0.8 + SLACK


# -- secrets ---------------------------------------------------------------------------------------


async def test_the_key_never_goes_through_an_environment_proxy_over_plain_http(
    connect: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with HostileServer(respond()) as proxy, HostileServer(respond()) as server:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy.base_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = connect(server)
        result = await resolve(client.models.run("gpt-image-2", INPUTS))

    assert result.text == "ok"
    assert proxy.connections == 0
    assert len(server.requests) == 1


async def test_a_copy_keeps_working_after_its_parent_is_collected(client_kind: str) -> None:
    with HostileServer(respond()) as server:
        if client_kind == "sync":
            copy: Any = knouds.Client(API_KEY, base_url=server.base_url).with_options(timeout=5)
        else:
            copy = knouds.AsyncClient(API_KEY, base_url=server.base_url).with_options(timeout=5)
        gc.collect()
        result = await resolve(copy.models.run("gpt-image-2", INPUTS))
        await resolve(copy.close())

    assert result.text == "ok"
    assert copy.is_closed


def test_an_async_client_refuses_a_second_event_loop_before_sending() -> None:
    with HostileServer(respond()) as server:
        client = knouds.AsyncClient(API_KEY, base_url=server.base_url)

        async def once() -> str | None:
            return (await client.models.run("gpt-image-2", INPUTS)).text

        first = asyncio.new_event_loop()
        try:
            assert first.run_until_complete(once()) == "ok"
            with pytest.raises(knouds.ConfigurationError, match="event loop"):
                asyncio.run(once())
            assert len(server.requests) == 1
            first.run_until_complete(client.aclose())
        finally:
            first.close()
