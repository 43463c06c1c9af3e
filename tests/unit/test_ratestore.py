"""Pacing shared through a real Redis server: one rate-limit window for several clients, the key
never stored, expiry, configuration, and what happens when the store goes away.

Time is injected: the emulator (served in-process through its transport) and the clients share a
fake clock, so windows pass without real waiting.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

import knouds
from knouds._stores.pacing import SharedPacing, derive_namespace
from knouds.testing import Emulator, Fault
from tests._support.redis_server import RedisServer
from tests.conftest import FakeTime, resolve

LIMIT = 3
WINDOW = 10.0
MODEL = "gpt-5-mini"
MakeClient = Callable[..., Any]


@pytest.fixture
def emu(fake_time: FakeTime) -> Emulator:
    # Windows aligned to the fake clock's start: the first window is a full one.
    fake_time.now = 1_700_000_000.0
    return Emulator(rate_limit=LIMIT, window=WINDOW, clock=fake_time.time)


@pytest.fixture
def connect(make_client: MakeClient, emu: Emulator) -> Callable[..., Any]:
    """A client of the tested kind on the emulator's in-process transport."""

    def factory(key: str | None = None, **kwargs: Any) -> Any:
        return make_client(emu.transport(), api_key=key or emu.api_key, **kwargs)

    return factory


def run_statuses(emu: Emulator) -> list[int | None]:
    return [entry.status for entry in emu.log if entry.path.startswith("/api/models/")]


async def run(client: Any, prompt: str = "a fox") -> knouds.RunResult:
    return await resolve(client.models.run(MODEL, {"prompt": prompt}))  # type: ignore[no-any-return]


def everything_in(url: str) -> list[bytes]:
    """Every key in the store and every value in it, as raw bytes."""
    found: list[bytes] = []
    with redis.Redis.from_url(url) as conn:
        for key in conn.scan_iter():
            found.append(key)
            kind = conn.type(key)
            if kind == b"hash":
                for field, value in conn.hgetall(key).items():
                    found += [field, value]
            elif kind == b"zset":
                found += [member for member, _ in conn.zrange(key, 0, -1, withscores=True)]
            else:  # pragma: no cover - the store writes only hashes and sorted sets
                found.append(repr(conn.dump(key)).encode())
    return found


async def test_a_fresh_client_waits_for_a_budget_another_client_spent(
    connect: Callable[..., Any], emu: Emulator, redis_url: str, fake_time: FakeTime
) -> None:
    first = connect(rate_limit_store=redis_url)
    for i in range(LIMIT):
        await run(first, f"first {i}")
    second = connect(rate_limit_store=redis_url)  # another process, as far as pacing knows
    result = await run(second, "second")
    assert result.text
    assert 429 not in run_statuses(emu)
    assert fake_time.sleeps
    assert sum(fake_time.sleeps) == pytest.approx(WINDOW, abs=0.2)


async def test_without_the_store_the_fresh_client_collects_a_429(
    connect: Callable[..., Any], emu: Emulator, fake_time: FakeTime
) -> None:
    first = connect()
    for i in range(LIMIT):
        await run(first, f"first {i}")
    await run(connect(), "second")
    assert run_statuses(emu).count(429) == 1


async def test_keys_of_one_account_share_a_named_budget(
    connect: Callable[..., Any], emu: Emulator, redis_url: str
) -> None:
    keys = [emu.create_key(account="acme") for _ in range(2)]
    clients = [connect(k, rate_limit_store=redis_url, rate_limit_namespace="acme") for k in keys]
    for i in range(3 * LIMIT):
        await run(clients[i % 2], f"run {i}")
    assert 429 not in run_statuses(emu)
    assert emu.run_count(MODEL) == 3 * LIMIT


async def test_different_keys_have_separate_budgets_by_default(
    connect: Callable[..., Any], emu: Emulator, redis_url: str, fake_time: FakeTime
) -> None:
    clients = [connect(emu.create_key(), rate_limit_store=redis_url) for _ in range(2)]
    for i in range(2 * LIMIT):
        await run(clients[i % 2], f"run {i}")
    assert fake_time.sleeps == []  # each key has a budget of its own
    assert 429 not in run_statuses(emu)


async def test_the_key_never_reaches_the_store_and_entries_expire(
    connect: Callable[..., Any], emu: Emulator, redis_url: str
) -> None:
    client = connect(rate_limit_store=redis_url)
    await run(client)
    await resolve(client.whoami())
    stored = everything_in(redis_url)
    assert stored
    secret = emu.api_key.encode()
    assert not [item for item in stored if secret in item or secret[-16:] in item]
    namespace = derive_namespace(emu.api_key, "https://api.example.test").encode()
    with redis.Redis.from_url(redis_url) as conn:
        keys = list(conn.scan_iter())
        assert all(namespace in key for key in keys)
        assert all(0 < conn.pttl(key) <= 120_000 for key in keys)


async def test_max_retry_wait_holds_for_a_budget_spent_elsewhere(
    connect: Callable[..., Any], emu: Emulator, redis_url: str, fake_time: FakeTime
) -> None:
    spender = connect(rate_limit_store=redis_url)
    for i in range(LIMIT):
        await run(spender, f"spend {i}")
    hurried = connect(rate_limit_store=redis_url, retry=knouds.RetryPolicy(max_retry_wait=2))
    with pytest.raises(knouds.RateLimitError) as caught:
        await run(hurried)
    assert caught.value.retry_after == pytest.approx(WINDOW, abs=0.2)
    assert fake_time.sleeps == []
    assert len(run_statuses(emu)) == LIMIT  # nothing was sent


async def test_each_client_corrects_its_own_clock_skew(
    make_client: MakeClient, redis_url: str, fake_time: FakeTime
) -> None:
    # The server's clock runs 30 s ahead: windows follow its reset epochs, not ours.
    emu = Emulator(rate_limit=LIMIT, window=WINDOW, clock=fake_time.time, clock_skew=30.0)
    first, second = (
        make_client(emu.transport(), api_key=emu.api_key, rate_limit_store=redis_url)
        for _ in range(2)
    )
    await run(second, "learn the skew")
    for i in range(LIMIT - 1):
        await run(first, f"spend {i}")
    await run(second, "after the reset")
    assert 429 not in run_statuses(emu)
    assert sum(fake_time.sleeps) == pytest.approx(WINDOW, abs=0.2)  # not 30 s more


async def test_copies_share_the_store(
    connect: Callable[..., Any], emu: Emulator, redis_url: str, fake_time: FakeTime
) -> None:
    client = connect(rate_limit_store=redis_url)
    copy = client.with_options(timeout=5)
    assert copy._pacing is client._pacing
    other = client.with_options(api_key=emu.create_key())
    assert isinstance(other._pacing, SharedPacing)
    assert other._pacing.runner is client._pacing.runner
    assert other._pacing.namespace != client._pacing.namespace
    for i in range(LIMIT):
        await run(copy, f"copy {i}")
    await run(client)
    assert 429 not in run_statuses(emu)
    assert sum(fake_time.sleeps) == pytest.approx(WINDOW, abs=0.2)
    await resolve(copy.close())  # a copy leaves the shared connection open
    await run(client)


async def test_the_environment_variable_selects_the_store(
    connect: Callable[..., Any], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNOUDS_RATE_LIMIT_STORE", redis_url)
    assert isinstance(connect()._pacing, SharedPacing)
    assert not isinstance(connect(rate_limit_store="local")._pacing, SharedPacing)
    monkeypatch.setenv("KNOUDS_RATE_LIMIT_STORE", "")
    assert not isinstance(connect()._pacing, SharedPacing)


async def test_a_ready_redis_client_can_be_passed(
    connect: Callable[..., Any], emu: Emulator, redis_url: str, client_kind: str
) -> None:
    import redis.asyncio

    conn: Any = (
        redis.Redis.from_url(redis_url)
        if client_kind == "sync"
        else redis.asyncio.Redis.from_url(redis_url)
    )
    try:
        client = connect(rate_limit_store=conn)
        await run(client)
        await resolve(client.close())
        assert everything_in(redis_url)
        assert await resolve(conn.ping())  # the client leaves a connection it was given open
    finally:
        await resolve(conn.aclose() if client_kind == "async" else conn.close())


async def test_an_async_client_can_use_a_sync_redis_client(
    make_client: MakeClient, emu: Emulator, redis_url: str
) -> None:
    with redis.Redis.from_url(redis_url) as conn:
        client = knouds.AsyncClient(
            emu.api_key,
            base_url="https://api.example.test",
            rate_limit_store=conn,
            http_client=__import__("httpx").AsyncClient(transport=emu.transport()),
        )
        async with client:
            await client.models.run(MODEL, {"prompt": "a fox"})
        assert everything_in(redis_url)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_limit_store": "http://localhost:6379"}, "redis://"),
        ({"rate_limit_store": 42}, "redis-py client"),
        ({"rate_limit_store": "redis://h", "rate_limit_namespace": "a b"}, "namespace"),
        ({"rate_limit_store": "redis://h", "rate_limit_namespace": ""}, "namespace"),
        ({"rate_limit_store": "redis://h", "rate_limit_namespace": "acme\n"}, "namespace"),
        ({"rate_limit_store": "redis://h", "rate_limit_store_fallback": "ignore"}, "fallback"),
        ({"rate_limit_store": "redis://host:notaport"}, "Redis URL"),
    ],
)
def test_bad_store_settings_are_refused(
    client_kind: str, kwargs: dict[str, Any], message: str
) -> None:
    cls = knouds.Client if client_kind == "sync" else knouds.AsyncClient
    with pytest.raises(knouds.ConfigurationError, match=message):
        cls("knouds_live_k", base_url="http://127.0.0.1:1", **kwargs)


def test_the_sync_client_refuses_an_asyncio_redis_client() -> None:
    import redis.asyncio

    conn = redis.asyncio.Redis()
    with pytest.raises(knouds.ConfigurationError, match="asyncio"):
        knouds.Client("knouds_live_k", base_url="http://127.0.0.1:1", rate_limit_store=conn)


def test_importing_knouds_does_not_import_redis() -> None:
    code = (
        "import sys, knouds; knouds.Client; knouds.RateLimitStoreError; "
        "print('redis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


FORKED_RESERVATIONS = """
import asyncio, os, sys
import knouds

kind, url = sys.argv[1], sys.argv[2]
cls = knouds.Client if kind == "sync" else knouds.AsyncClient
client = cls("knouds_live_fork_test", base_url="http://127.0.0.1:9", rate_limit_store=url)


def reserve():
    flow = client._pacing.acquire("models", pace=True)
    try:
        command = next(flow)
        while True:
            reply = command.run() if kind == "sync" else asyncio.run(command.arun())
            command = flow.send(reply)
    except StopIteration as stop:
        return stop.value[0]


children = []
for _ in range(3):  # a client made before the fork, as a prefork server's workers inherit it
    pid = os.fork()
    if pid == 0:
        os._exit(0 if type(reserve()).__name__ == "SharedTicket" else 1)
    children.append(pid)
sys.exit(max(os.waitpid(pid, 0)[1] for pid in children))
"""


def test_processes_forked_from_one_client_reserve_distinct_slots(
    client_kind: str, redis_url: str
) -> None:
    subprocess.run(
        [sys.executable, "-c", FORKED_RESERVATIONS, client_kind, redis_url], check=True, timeout=60
    )
    with redis.Redis.from_url(redis_url) as conn:
        (inflight,) = list(conn.scan_iter("*:inflight"))
        assert conn.zcard(inflight) == 3  # three requests in flight, not one


async def test_a_call_costs_two_round_trips_to_the_store(
    connect: Callable[..., Any], redis_url: str
) -> None:
    client = connect(rate_limit_store=redis_url)
    await run(client, "load the scripts")
    with redis.Redis.from_url(redis_url) as conn:
        conn.config_resetstat()
        for i in range(LIMIT - 1):  # within the budget: no second reservation
            await run(client, f"run {i}")
        stats = conn.info("commandstats")
    # One script to reserve, one to hand back; the other commands run inside the scripts.
    assert stats["cmdstat_evalsha"]["calls"] == 2 * (LIMIT - 1)
    assert not {"cmdstat_eval", "cmdstat_script", "cmdstat_multi"} & set(stats)


async def test_a_failed_request_hands_its_slot_back(
    connect: Callable[..., Any], emu: Emulator, redis_url: str
) -> None:
    client = connect(rate_limit_store=redis_url, max_retries=0)
    emu.inject(Fault.drop(), times=1)
    with pytest.raises(knouds.APIConnectionError):
        await run(client)
    with redis.Redis.from_url(redis_url) as conn:
        (inflight,) = list(conn.scan_iter("*:inflight"))
        assert conn.zcard(inflight) == 1  # handed back without a round trip of its own...
        await run(client)
        assert conn.zcard(inflight) == 0  # ...and dropped by the next call's reservation


# -- the store going away ------------------------------------------------------------------------


async def test_calls_pace_locally_while_the_store_is_down_and_share_again_after(
    connect: Callable[..., Any],
    emu: Emulator,
    redis_server: RedisServer,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="knouds")
    client = connect(rate_limit_store=redis_server.url)
    await run(client, "before")
    redis_server.stop()
    for i in range(2 * LIMIT):
        assert (await run(client, f"during {i}")).text
    assert 429 not in run_statuses(emu)  # the local pacer took over with what it had learnt
    down = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(down) == 1
    assert down[0].levelno == logging.WARNING
    assert client._pacing.available is False

    redis_server.start()
    fake_time.advance(2)  # past the probe interval
    await run(client, "after")
    assert client._pacing.available is True
    assert [r for r in caplog.records if "answers again" in r.getMessage()]
    assert everything_in(redis_server.url)  # shared counts are written again
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


async def test_an_unreachable_store_never_breaks_a_call(
    connect: Callable[..., Any], emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    dead = RedisServer()
    dead.start()
    url = dead.url
    dead.cleanup()
    client = connect(rate_limit_store=url)
    for i in range(3):
        assert (await run(client, f"run {i}")).text
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


async def test_copies_for_other_keys_share_the_outage_and_its_one_warning(
    connect: Callable[..., Any], emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    # One copy per tenant key, made per request: during an outage they must not each ask the
    # store at once and warn again.
    dead = RedisServer()
    dead.start()
    url = dead.url
    dead.cleanup()
    client = connect(rate_limit_store=url)
    assert (await run(client, "first")).text
    for i in range(3):
        tenant = client.with_options(api_key=emu.create_key())
        assert isinstance(tenant._pacing, SharedPacing)
        assert tenant._pacing.available is False  # known down: paces locally at once
        assert (await run(tenant, f"tenant {i}")).text
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


async def test_fallback_raise_turns_an_outage_into_a_knouds_error(
    connect: Callable[..., Any], emu: Emulator, redis_server: RedisServer
) -> None:
    client = connect(rate_limit_store=redis_server.url, rate_limit_store_fallback="raise")
    await run(client, "before")
    redis_server.stop()
    with pytest.raises(knouds.RateLimitStoreError, match="did not answer"):
        await run(client, "during")
    assert len(run_statuses(emu)) == 1  # nothing was sent
    redis_server.start()
    assert (await run(client, "after")).text


async def test_a_frozen_store_holds_an_async_call_no_longer_than_the_short_timeout(
    emu: Emulator, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A redis.asyncio connection passed in without any timeout of its own: the client still
    # gives the store half a second, then paces on its own.
    import redis.asyncio

    conn = redis.asyncio.Redis.from_url(redis_server.url)
    client = knouds.AsyncClient(
        emu.api_key,
        base_url="https://api.example.test",
        rate_limit_store=conn,
        http_client=httpx.AsyncClient(transport=emu.transport()),
    )
    assert redis_server.pid is not None
    os.kill(redis_server.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert (await client.models.run(MODEL, {"prompt": "a fox"})).text
        assert time.monotonic() - started < 5
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)
        await client.aclose()
        await conn.aclose()
    assert isinstance(client._pacing, SharedPacing)
    assert client._pacing.available is False
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_store_url_becomes_a_client_with_a_short_timeout(asynchronous: bool) -> None:
    import redis.asyncio

    from knouds._stores.redis import DEFAULT_REDIS_TIMEOUT, redis_connection

    conn = redis_connection("rediss://cache.internal:6380/2", asynchronous=asynchronous)
    assert isinstance(conn, redis.asyncio.Redis if asynchronous else redis.Redis)
    kwargs = conn.connection_pool.connection_kwargs
    assert kwargs["host"] == "cache.internal"
    assert kwargs["port"] == 6380
    assert kwargs["db"] == 2
    assert "SSL" in conn.connection_pool.connection_class.__name__
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == DEFAULT_REDIS_TIMEOUT
    assert kwargs["retry"].get_retries() == 0


def wait_for_slots(conn: redis.Redis, inflight: bytes, count: int) -> bool:
    """Whether the in-flight set reaches ``count`` slots within a few seconds (real time: what
    a server does after a freeze cannot be driven by a fake clock)."""
    deadline = time.monotonic() + 5
    while conn.zcard(inflight) != count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def test_a_reservation_a_frozen_store_runs_late_pins_no_slot(
    connect: Callable[..., Any],
    emu: Emulator,
    redis_server: RedisServer,
    fake_time: FakeTime,
) -> None:
    client = connect(rate_limit_store=redis_server.url)
    await run(client, "teaches the window")
    assert redis_server.pid is not None
    os.kill(redis_server.pid, signal.SIGSTOP)  # frozen: the reservation times out unanswered
    try:
        assert (await run(client, "paced alone")).text
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)
    with redis.Redis.from_url(redis_server.url) as conn:
        inflight = next(iter(conn.scan_iter("*:inflight")))
        # The woken server runs the reservation it was sent: one slot, for a minute's lease.
        assert wait_for_slots(conn, inflight, 1)

        fake_time.now = (fake_time.now // WINDOW + 1) * WINDOW + 1  # the next window
        fake_time.sleeps.clear()
        for i in range(LIMIT):  # the whole limit: no slot is held by the lost reservation
            assert (await run(client, f"next window {i}")).text
        assert fake_time.sleeps == []
        assert conn.zcard(inflight) == 0
    assert 429 not in run_statuses(emu)


def test_a_reservation_given_up_before_the_store_runs_it_is_refused(redis_url: str) -> None:
    from knouds._stores.pacing_scripts import ACQUIRE

    keys = [
        "knouds:ratelimit:{t:b}",
        "knouds:ratelimit:{t:b}:inflight",
        "knouds:ratelimit:{t:b}:gone",
    ]
    with redis.Redis.from_url(redis_url) as conn:
        acquire = conn.register_script(ACQUIRE)

        def reserve(token: str, *dropped: str) -> Any:
            seed = (3, 3, 1_700_000_010)
            return acquire(keys=keys, args=[1_700_000_000, 1, token, 60, 0.5, 1, *seed, *dropped])

        # The client gave "late" up (no answer came) and said so with its next reservation;
        # the stalled server then runs "late" after all.
        assert reserve("next", "late") == [1, 0]
        assert reserve("late") == [0, 0]
        assert conn.zrange(keys[1], 0, -1) == [b"next"]
        assert 0 < conn.pttl(keys[2]) <= 60_000


def test_without_redis_py_a_redis_url_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both forms: the package name for when it is published, the checkout form until then.
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis now raises ImportError
    with pytest.raises(knouds.ConfigurationError) as info:
        knouds.Client(api_key="knouds_live_x", rate_limit_store="redis://localhost:6379/0")
    assert 'pip install "knouds[redis]"' in str(info.value)
    assert 'pip install ".[redis]"' in str(info.value)
