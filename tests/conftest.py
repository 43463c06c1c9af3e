"""Shared fixtures: every client behaviour is tested once, for both ``Client`` and ``AsyncClient``.

A test takes ``make_client`` (parametrised over ``"sync"`` and ``"async"``), builds a client over a
handler or transport, and awaits :func:`resolve` around each call: for the sync client the value is
returned as is, for the async one it is awaited. Time is fake: ``fake_time`` drives both the
client's clock and its sleeps, so retries and pacing never sleep for real.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

import knouds
from tests._support.redis_server import RedisServer

T = TypeVar("T")
API_KEY = "knouds_live_test_0123456789abcdef"
BASE_URL = "https://api.example.test"


async def resolve(value: Any) -> Any:
    """Await ``value`` when the async client returned an awaitable; pass it through otherwise."""
    if inspect.isawaitable(value):
        return await value
    return value


class FakeTime:
    """An injectable clock: ``sleep`` advances it instead of waiting."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture(params=["sync", "async"])
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def redis_server_session() -> Iterator[RedisServer]:
    """One real Redis server for the whole test session (started on first use)."""
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_server(redis_server_session: RedisServer) -> Iterator[RedisServer]:
    """The session's Redis server, emptied before each test; restarted if a test stopped it."""
    import redis

    redis_server_session.ensure_healthy()
    with redis.Redis.from_url(redis_server_session.url, socket_timeout=10) as conn:
        conn.flushall()
    yield redis_server_session
    redis_server_session.ensure_healthy()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty real Redis server: ``redis://127.0.0.1:<port>/0``."""
    return redis_server.url


Handler = Callable[[httpx.Request], httpx.Response]
# "aiohttp": async clients that talk to a real server use DefaultAioHttpClient.
ASYNC_TRANSPORT_ENV = "KNOUDS_TEST_ASYNC_TRANSPORT"


@pytest.fixture
async def make_client(client_kind: str, fake_time: FakeTime) -> AsyncIterator[Callable[..., Any]]:
    """Build a ``Client`` or ``AsyncClient`` (per the parameter) over a handler or transport.

    ``make_client(handler_or_transport, **client_kwargs)``; fake time is wired in unless the test
    passes its own ``clock``/``sleep``. Clients are closed after the test.
    """
    made: list[Any] = []

    def factory(
        transport: Handler | httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", BASE_URL)
        kwargs.setdefault("clock", fake_time.time)
        if callable(transport) and not isinstance(
            transport, (httpx.BaseTransport, httpx.AsyncBaseTransport)
        ):
            transport = httpx.MockTransport(transport)
        if client_kind == "sync":
            kwargs.setdefault("sleep", fake_time.sleep)
            if transport is not None:
                kwargs.setdefault("http_client", httpx.Client(transport=transport))  # type: ignore[arg-type]
            client: Any = knouds.Client(**kwargs)
        else:
            kwargs.setdefault("sleep", fake_time.asleep)
            if transport is not None:
                kwargs.setdefault("http_client", httpx.AsyncClient(transport=transport))  # type: ignore[arg-type]
            elif os.environ.get(ASYNC_TRANSPORT_ENV) == "aiohttp":
                # Real sockets over the aiohttp transport instead of httpx's (CI runs the
                # end-to-end and reliability tests both ways).
                kwargs.setdefault("http_client", knouds.DefaultAioHttpClient())
            client = knouds.AsyncClient(**kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        await resolve(client._http.aclose() if client_kind == "async" else client._http.close())
        if client._owns_store:  # a Redis connection the client opened from a URL
            await client._pacing.runner.aclose()


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def rate_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": f"{reset:g}" if reset != int(reset) else str(int(reset)),
    }


def script(
    *steps: httpx.Response | Exception,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    """A handler answering each request with the next step (a response, or an exception raised),
    and the list of requests it saw."""
    seen: list[httpx.Request] = []
    queue: Iterator[httpx.Response | Exception] = iter(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = next(queue)
        if isinstance(step, Exception):
            raise step
        return step

    return handler, seen
