"""``Budget`` and its stores: the same behaviour in memory and in a real Redis server."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

import knouds
from knouds._stores.budget import MemoryBudgetStore
from tests._support.redis_server import RedisServer
from tests.conftest import FakeTime, resolve

StoreFactory = Callable[[], Any]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """A factory of stores for `Budget`: one shared memory store, or a new Redis client each."""
    if request.param == "memory":
        shared = MemoryBudgetStore()
        yield lambda: shared
        return
    url = request.getfixturevalue("redis_url")
    import redis

    clients: list[Any] = []

    def connect() -> Any:
        clients.append(redis.Redis.from_url(url))
        return clients[-1]

    yield connect
    for client in clients:
        client.close()


def budget_on(store: StoreFactory, credits: float, **kwargs: Any) -> knouds.Budget:
    kwargs.setdefault("clock", lambda: 1_700_000_000.0)
    budget = knouds.Budget(credits, **kwargs)
    target = store()
    if isinstance(target, MemoryBudgetStore):
        budget._store = target
    else:
        budget = knouds.Budget(credits, store=target, **kwargs)
    return budget


def test_holds_count_until_settled(store: StoreFactory) -> None:
    budget = budget_on(store, 10)
    first = hold(budget, 4)
    second = hold(budget, 4)
    assert (budget.spent, budget.held, budget.remaining) == (0, 8, 2)
    with pytest.raises(knouds.BudgetExceededError) as caught:
        hold(budget, 4)
    assert (caught.value.spent, caught.value.held, caught.value.requested) == (0, 8, 4)

    budget._settle(first, 3.5)
    budget._settle(second, 0.0)
    assert (budget.spent, budget.held, budget.remaining) == (3.5, 0, 6.5)
    budget.reset()
    assert budget.spent == 0


def test_a_run_of_unknown_cost_starts_while_anything_is_left(store: StoreFactory) -> None:
    budget = budget_on(store, 1)
    first = hold(budget, 0)
    budget._settle(first, 0.9)
    budget._settle(hold(budget, 0), 0.3)
    with pytest.raises(knouds.BudgetExceededError, match="is spent"):
        hold(budget, 0)
    assert budget.spent == pytest.approx(1.2)


def test_holds_of_a_vanished_process_expire(redis_url: str, fake_time: FakeTime) -> None:
    # Only a shared store sees holds of other processes; in memory every hold is this
    # process's own, and lives until it is settled.
    budget = knouds.Budget(5, store=redis_url, hold_ttl=30, clock=fake_time.time)
    hold(budget, 5)  # never settled
    with pytest.raises(knouds.BudgetExceededError):
        hold(budget, 5)

    fake_time.advance(31)
    hold(budget, 5)
    assert budget.held == 5


def test_a_pending_submission_of_unknown_cost_is_one_per_name_and_expires(
    store: StoreFactory, fake_time: FakeTime
) -> None:
    one = budget_on(store, 5, hold_ttl=30, clock=fake_time.time, name="shared")
    two = budget_on(store, 5, hold_ttl=30, clock=fake_time.time, name="shared")
    pending = one._hold(0, scope="client", what="a run", pending="model:suno-v5")
    with pytest.raises(knouds.BudgetExceededError, match="still pending"):
        two._hold(0, scope="client", what="a run", pending="model:suno-v5")
    two._settle(two._hold(0, scope="client", what="a run", pending="model:other"), 0)

    one._settle(pending, 2)  # its end was seen: dropped and counted
    assert (two.spent, two.held) == (2, 0)
    two._hold(0, scope="client", what="a run", pending="model:suno-v5")  # never ends
    fake_time.advance(31)
    one._hold(0, scope="client", what="a run", pending="model:suno-v5")


def test_periods_count_apart(store: StoreFactory, fake_time: FakeTime) -> None:
    fake_time.now = 86_400.0 * 20_000
    budget = budget_on(store, 3, period=timedelta(days=1), clock=fake_time.time)
    budget._settle(hold(budget, 0), 3)
    assert budget.remaining == 0
    fake_time.advance(86_400)
    assert (budget.spent, budget.remaining) == (0, 3)


def test_concurrent_holds_never_pass_the_budget(store: StoreFactory) -> None:
    # Several threads, each with its own connection, race for 50 credits in holds of 1.
    budgets = [budget_on(store, 50, name="race") for _ in range(4)]
    granted: list[int] = []
    lock = threading.Lock()

    def race(budget: knouds.Budget) -> None:
        count = 0
        for _ in range(40):
            try:
                hold(budget, 1)
                count += 1
            except knouds.BudgetExceededError:
                pass
        with lock:
            granted.append(count)

    threads = [threading.Thread(target=race, args=(b,)) for b in budgets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(granted) == 50
    assert budgets[0].held == 50


def hold(budget: knouds.Budget, amount: float) -> Any:
    return budget._hold(amount, scope="client", what="a run")


def test_budget_validation_and_repr() -> None:
    with pytest.raises(ValueError, match="period"):
        knouds.Budget(1, period=0)
    with pytest.raises(ValueError, match="name"):
        knouds.Budget(1, name="")
    # A hold that expires at once (or never, or at nan) would undo the bound on runs in flight.
    for ttl in (0, -1, float("nan"), float("inf"), True, "60"):
        with pytest.raises((ValueError, TypeError), match="hold_ttl"):
            knouds.Budget(1, hold_ttl=ttl)  # type: ignore[arg-type]
    with pytest.raises(knouds.ConfigurationError, match="redis"):
        knouds.Budget(1, store=object())
    assert repr(knouds.Budget(500, period=timedelta(hours=1))) == (
        "Budget(500, period=3600s, name='default')"
    )
    assert knouds.Budget(2).blocking is False


def test_a_redis_budget_is_shared_by_name(redis_url: str) -> None:
    one = knouds.Budget(10, store=redis_url, name="team")
    two = knouds.Budget(10, store=redis_url, name="team")
    other = knouds.Budget(10, store=redis_url, name="other")
    hold(two, 1)  # a hold of another process
    assert (one.held, one.remaining) == (1, 9)
    one._settle(hold(one, 0), 7)

    assert (two.spent, two.remaining, other.spent) == (7, 2, 0)
    assert two.blocking is True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_redis_budget_refuses_runs(make_client: Callable[..., Any]) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    budget = knouds.Budget(100, store=f"redis://127.0.0.1:{_free_port()}/0")
    client = make_client(handler, budget=budget)

    with pytest.raises(knouds.BudgetExceededError, match="cannot be checked") as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert sent == []
    assert "Nothing was sent" in str(caught.value)
    with pytest.raises(knouds.KnoudsError, match="Redis"):
        _ = budget.remaining


def test_a_charge_redis_cannot_take_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    # A Redis of its own, stopped mid-run (the shared one stays up for the other tests).
    server = RedisServer()
    server.start()
    try:
        budget = knouds.Budget(10, store=server.url, name="flaky")
        held = hold(budget, 4)
        server.stop()

        with caplog.at_level("WARNING", logger="knouds"):
            budget._settle(held, 4)
    finally:
        server.cleanup()

    assert "Could not count 4 credits in the credit budget 'flaky'" in caplog.text


def test_a_redis_asyncio_client_cannot_hold_a_budget() -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(f"redis://127.0.0.1:{_free_port()}/0")
    with pytest.raises(knouds.ConfigurationError, match=r"redis\.asyncio"):
        knouds.Budget(1, store=client)


FORKED_HOLDS = """
import os, sys
import knouds
from knouds._core.spend import RunRef

kind, url = sys.argv[1], sys.argv[2]
cls = knouds.Client if kind == "sync" else knouds.AsyncClient
budget = knouds.Budget(100, store=url, name="forked")
client = cls("knouds_live_fork_test", base_url="http://127.0.0.1:9", budget=budget)
ref = RunRef("model", "gpt-image-2")
client._spend.publish(ref, 5.0)

children = []
for _ in range(3):  # a client made before the fork, as a prefork server's workers inherit it
    pid = os.fork()
    if pid == 0:
        client._spend.begin(ref, None)  # a run in flight in each worker
        os._exit(0)
    children.append(pid)
sys.exit(max(os.waitpid(pid, 0)[1] for pid in children))
"""


def test_processes_forked_from_one_client_hold_apart(client_kind: str, redis_url: str) -> None:
    subprocess.run(
        [sys.executable, "-c", FORKED_HOLDS, client_kind, redis_url], check=True, timeout=60
    )
    assert knouds.Budget(100, store=redis_url, name="forked").held == 15  # three holds, not one
