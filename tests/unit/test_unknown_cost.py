"""A cap that caps when costs are not known yet: one run of a model or workflow of unknown cost
goes first, the others wait (not fail) until its cost is known, then fit the limit.

Both clients, runs truly concurrent (threads for the sync client, tasks for the async one), an
in-memory budget and a real Redis budget shared by several clients as several processes would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import API_KEY, BASE_URL, resolve

MODEL = "gpt-image-2"
PRICE = 4


class Server:
    """Answers each run after a short real delay (so runs overlap), charging ``PRICE``; counts
    the runs it served and the most it served at once."""

    def __init__(self, cost: float = PRICE, delay: float = 0.02) -> None:
        self.cost = cost
        self.delay = delay
        self.runs = 0
        self.in_flight = 0
        self.most = 0
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.runs += 1
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)

    def _leave(self) -> httpx.Response:
        with self._lock:
            self.in_flight -= 1
        body = {"success": True, "result": {"images": ["https://cdn.test/a.png"]}}
        return httpx.Response(200, json={**body, "cost": self.cost})

    def sync(self, request: httpx.Request) -> httpx.Response:
        self._enter()
        time.sleep(self.delay)
        return self._leave()

    async def async_(self, request: httpx.Request) -> httpx.Response:
        self._enter()
        await asyncio.sleep(self.delay)
        return self._leave()


def _client(kind: str, server: Server, **options: Any) -> Any:
    common = {"api_key": API_KEY, "base_url": BASE_URL, "pace": False, **options}
    if kind == "sync":
        transport = httpx.MockTransport(server.sync)
        return knouds.Client(http_client=httpx.Client(transport=transport), **common)
    atransport = httpx.MockTransport(server.async_)
    return knouds.AsyncClient(http_client=httpx.AsyncClient(transport=atransport), **common)


async def _batch(client: Any, count: int, **options: Any) -> list[Any]:
    inputs = [{"prompt": f"p{i}"} for i in range(count)]
    results = client.models.run_many(MODEL, inputs, concurrency=8, **options)
    if isinstance(client, knouds.AsyncClient):
        results = await results
    return list(results)


def _refused(outcomes: list[Any]) -> int:
    return sum(isinstance(outcome, knouds.BudgetExceededError) for outcome in outcomes)


async def test_a_budget_of_unknown_costs_is_never_passed(client_kind: str) -> None:
    server = Server()
    budget = knouds.Budget(20)
    client = _client(client_kind, server, budget=budget)

    outcomes = await _batch(client, 40)

    assert budget.spent == 20  # before: all eight workers started at once, 32 and more
    assert server.runs == 5
    assert _refused(outcomes) == 35
    assert budget.held == 0


async def test_max_credits_of_unknown_costs_is_never_passed(client_kind: str) -> None:
    server = Server()
    client = _client(client_kind, server)

    outcomes = await _batch(client, 40, max_credits=30)

    assert server.runs * PRICE <= 30
    assert server.runs == 7
    assert _refused(outcomes) == 33


async def test_the_first_run_goes_alone_then_the_others_run_together(client_kind: str) -> None:
    server = Server()
    client = _client(client_kind, server, budget=knouds.Budget(1000))

    outcomes = await _batch(client, 24)

    assert _refused(outcomes) == 0
    assert server.most > 1  # once the cost is known, runs overlap again


async def test_a_run_that_cost_nothing_teaches_no_price(client_kind: str) -> None:
    server = Server(cost=0)  # trial-grant runs
    budget = knouds.Budget(10)
    client = _client(client_kind, server, budget=budget)

    await _batch(client, 3)
    server.cost = PRICE
    outcomes = await _batch(client, 30)

    # 3 free runs; then the first paid run goes alone and teaches the price, one more fits.
    assert budget.spent == 8
    assert server.runs == 3 + 2
    assert _refused(outcomes) == 28


async def test_a_redis_budget_shared_by_clients_that_know_no_cost_is_never_passed(
    redis_url: str, client_kind: str
) -> None:
    server = Server()
    # Four clients with their own learned prices (as four processes would have), one budget;
    # threads (sync) or tasks (async) run their batches at once.
    clients = [
        _client(client_kind, server, budget=knouds.Budget(40, store=redis_url, name="shared"))
        for _ in range(4)
    ]
    batches = [[{"p": i} for i in range(30)] for _ in clients]
    if client_kind == "async":
        await asyncio.gather(
            *(c.models.run_many(MODEL, b) for c, b in zip(clients, batches, strict=True))
        )
    else:
        threads = [
            threading.Thread(target=c.models.run_many, args=(MODEL, b))
            for c, b in zip(clients, batches, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    # At most one run of unknown cost is in flight anywhere: the limit is passed by at most
    # one run's cost (before: 144 under 40 with 4 x 8 workers).
    assert server.runs * PRICE <= 40 + PRICE
    assert server.runs >= 40 // PRICE  # the budget was used, not refused from the start
    assert clients[0].budget.spent == server.runs * PRICE


class Executions:
    """Submissions answered with an execution id; polls answer it completed, charged ``PRICE``."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.runs += 1
            return httpx.Response(202, json={"executionId": f"ex-{self.runs}", "status": "pending"})
        execution_id = request.url.path.rsplit("/", 1)[1]
        body = {
            "id": execution_id,
            "status": "completed",
            "result": {"images": ["https://cdn.test/a.png"]},
            "cost": PRICE * 3,
        }
        return httpx.Response(200, json=body)


async def test_a_submission_waited_on_through_another_client_of_its_budget_is_counted(
    client_kind: str,
) -> None:
    budget = knouds.Budget(100)
    handler = Executions()

    def client() -> Any:
        common: dict[str, Any] = {
            "api_key": API_KEY,
            "base_url": BASE_URL,
            "budget": budget,
            "pace": False,
        }
        if client_kind == "sync":
            return knouds.Client(
                http_client=httpx.Client(transport=httpx.MockTransport(handler)), **common
            )
        return knouds.AsyncClient(
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)), **common
        )

    async def call(value: Any) -> Any:
        return await value if isinstance(client_one, knouds.AsyncClient) else value

    client_one, client_two = client(), client()
    execution = await call(client_one.models.submit(MODEL, {"prompt": "x"}))
    await call(client_two.executions.wait(execution, poll_interval=0.01))

    assert budget.spent == PRICE * 3  # before: 0, the submitting client never saw its end
    assert budget.held == 0
    # The cost is known now: the next submission is not refused as still pending.
    await call(client_one.models.submit(MODEL, {"prompt": "y"}))
    assert handler.runs == 2


async def test_a_batch_limit_that_refuses_a_run_gives_back_its_hold_under_the_budget(
    client_kind: str,
) -> None:
    server = Server()
    budget = knouds.Budget(100, prices={MODEL: PRICE})
    client = _client(client_kind, server, budget=budget)

    outcomes = await _batch(client, 3, max_credits=PRICE - 1)

    assert all(isinstance(o, knouds.BudgetExceededError) for o in outcomes)
    assert all(o.scope == "batch" for o in outcomes)
    assert server.runs == 0
    assert (budget.spent, budget.held, budget.remaining) == (0, 0, 100)


async def test_refusals_name_the_limit_and_the_run_they_stop(client_kind: str) -> None:
    server = Server()
    budget = knouds.Budget(2, prices={MODEL: PRICE})
    client = _client(client_kind, server, budget=budget)

    by_budget = (await _batch(client, 1))[0]
    priced = _client(client_kind, server, budget=knouds.Budget(100, prices={MODEL: PRICE}))
    by_batch = (await _batch(priced, 1, max_credits=PRICE - 1))[0]

    assert isinstance(by_budget, knouds.BudgetExceededError)
    assert by_budget.scope == "client"
    assert "credit budget of 2" in str(by_budget)
    assert f"a run of model '{MODEL}' is expected to cost {PRICE}" in str(by_budget)
    assert isinstance(by_batch, knouds.BudgetExceededError)
    assert by_batch.scope == "batch"
    assert "max_credits of this batch of 3" in str(by_batch)
    assert server.runs == 0


async def test_a_run_whose_deadline_ends_while_it_waits_for_a_cost_is_refused_with_the_limit(
    client_kind: str,
) -> None:
    server = Server(delay=2.0)  # the first run, which learns the cost, takes a while
    budget = knouds.Budget(20)
    client = _client(client_kind, server, budget=budget)
    deadline = knouds.RetryPolicy(deadline=0.3)

    with ThreadPoolExecutor(1) as threads:
        if client_kind == "sync":
            first: Any = threads.submit(client.models.run, MODEL, {"prompt": "first"})
        else:
            first = asyncio.ensure_future(client.models.run(MODEL, {"prompt": "first"}))
        for _ in range(1000):  # until the first run is in flight
            if server.runs:
                break
            await asyncio.sleep(0.01)
        second = {"prompt": "second"}
        with pytest.raises(knouds.BudgetExceededError) as caught:
            await resolve(client.models.run(MODEL, second, retry=deadline))
        result = first.result() if client_kind == "sync" else await first

    refusal = caught.value
    assert "deadline ran out" in str(refusal)
    assert (refusal.limit, refusal.scope) == (20, "client")  # the budget it waited under
    assert refusal.held == 0  # the first run holds only a marker: its cost was not known
    assert server.runs == 1  # the second was never sent
    assert result.cost == PRICE
    assert budget.spent == PRICE
