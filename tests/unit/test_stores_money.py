"""Money kept by the stores, checked against the real backends (a SQLite file, a real Redis).

Budgets count exactly, also next to shared pacing on the same Redis; corrections below a hold
land; periods, journal lifetimes and stored errors are what they say.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

import knouds
from knouds._budget import MemoryBudgetStore
from knouds._journal import describe_error
from knouds.testing import responses
from tests.conftest import API_KEY, FakeTime, resolve

MakeClient = Callable[..., Any]
MODEL = "gpt-5-mini"
EXEC_ID = "3f6c1b1e-6a0e-4f7b-9a52-0d3c2f1e9b77"


def hold(budget: knouds.Budget, amount: float) -> Any:
    return budget._hold(amount, budget._clock(), scope="client", what="a run")


@pytest.fixture(params=["memory", "redis"])
def budget_store(request: pytest.FixtureRequest) -> object:
    """What `Budget(store=...)` is given: ``None`` (memory) or the URL of the real Redis."""
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_url")


# -- Redis budget and shared pacing on one server ---------------------------------------------


async def test_a_redis_budget_and_shared_pacing_count_exactly_together(
    make_client: MakeClient, client_kind: str, redis_url: str, fake_time: FakeTime
) -> None:
    # Every run goes through the pacing scripts and the budget scripts on the same server,
    # from several threads or tasks at once, with costs that are not binary fractions.
    costs = [0.1, 0.7, 1.3, 0.05]
    lock = threading.Lock()
    sent: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            sent.append(1)
            n = len(sent)
        headers = {
            "x-ratelimit-limit": "1000",
            "x-ratelimit-remaining": str(1000 - n),
            "x-ratelimit-reset": str(int(fake_time.now) + 60),
        }
        body = {"success": True, "result": {"text": "ok"}, "cost": costs[n % 4], "ms": 3}
        return httpx.Response(200, json=body, headers=headers)

    budget = knouds.Budget(1000, store=redis_url, name="together")
    client = make_client(handler, rate_limit_store=redis_url, budget=budget)
    runs = 48

    if client_kind == "async":

        async def one(i: int) -> None:
            await client.models.run(MODEL, {"prompt": f"p{i}"})

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(runs))), 60)
    else:
        errors: list[BaseException] = []

        def work(first: int) -> None:
            try:
                for i in range(first, runs, 6):
                    client.models.run(MODEL, {"prompt": f"p{i}"})
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []

    assert len(sent) == runs
    # 12 runs at each price: 12 * (0.1 + 0.7 + 1.3 + 0.05) = 25.8, to the last digit.
    assert (budget.spent, budget.held) == (25.8, 0)
    assert budget.remaining == 1000 - 25.8
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.get("knouds:budget:{together}:used") == b"25800000"  # micro-credits
        assert conn.ping()


def test_a_correction_below_the_hold_is_counted(budget_store: object) -> None:
    # A submission counts its expected cost when it starts; its end may report less.
    budget = knouds.Budget(10, store=budget_store, name="correct")
    ticket = hold(budget, 5)
    budget._settle(ticket, 5)
    assert budget.spent == 5
    budget._settle(ticket, -2)  # it cost 3
    assert (budget.spent, budget.remaining) == (3, 7)
    hold(budget, 7)  # the credits given back can be spent again


async def test_a_submission_that_cost_less_than_expected_frees_the_difference(
    make_client: MakeClient, client_kind: str, redis_url: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return responses.submit(EXEC_ID)
        body = {"executionId": EXEC_ID, "status": "completed", "result": {}, "cost": 3}
        return httpx.Response(200, json=body)

    budget = knouds.Budget(10, store=redis_url, name="submitted", prices={MODEL: 5})
    client = make_client(handler, budget=budget)
    execution = await resolve(client.models.submit(MODEL, {"prompt": "x"}))
    assert budget.spent == 5  # the expected cost, while it runs
    await resolve(client.executions.get(execution.id))
    assert (budget.spent, budget.remaining) == (3, 7)


def test_counts_of_an_earlier_float_version_are_read_and_converted(redis_url: str) -> None:
    base = "knouds:budget:{legacy}"
    with redis.Redis.from_url(redis_url) as conn:
        conn.set(base + ":spent", "2.5", ex=600)
        conn.hset(base + ":holds", "old-hold", "1.25")
        conn.zadd(base + ":expiry", {"old-hold": 1_700_000_000.0 + 60})
        budget = knouds.Budget(10, store=redis_url, name="legacy", clock=lambda: 1_700_000_000.0)
        assert (budget.spent, budget.held) == (2.5, 1.25)
        budget._settle(hold(budget, 1), 0.75)
        assert (budget.spent, budget.held) == (3.25, 1.25)
        assert conn.get(base + ":used") == b"3250000"
        assert conn.exists(base + ":spent", base + ":holds") == 0
        assert 0 < conn.ttl(base + ":used") <= 600  # the old key's lifetime is kept


def test_the_memory_store_counts_exactly() -> None:
    store = MemoryBudgetStore()
    budget = knouds.Budget(10)
    budget._store = store
    for _ in range(30):
        budget._settle(hold(budget, 0.1), 0.1)
    assert budget.spent == 3.0


# -- periods ------------------------------------------------------------------------------------


def test_a_daily_budget_is_one_period_from_midnight_to_midnight(budget_store: object) -> None:
    midnight = 86_400.0 * 20_000  # a midnight, UTC
    now = [midnight + 11 * 3600]  # 11:00
    budget = knouds.Budget(
        10, period=timedelta(days=1), store=budget_store, name="daily", clock=lambda: now[0]
    )
    budget._settle(hold(budget, 0), 4)
    for hour in (13, 23.99):  # after midday, and just before midnight: the same day
        now[0] = midnight + hour * 3600
        assert (budget.spent, budget.remaining) == (4, 6)
    now[0] = midnight - 1  # the day before
    assert budget.spent == 0
    now[0] = midnight + 86_400  # the next day
    assert (budget.spent, budget.remaining) == (0, 10)


# -- the run journal ----------------------------------------------------------------------------

WEEK_MS = 7 * 24 * 3600 * 1000


def test_a_redis_journal_entry_lives_for_the_ttl_in_real_time(redis_url: str) -> None:
    week = knouds.RedisJournal(redis_url, namespace="week")  # the default ttl: a week
    short = knouds.RedisJournal(redis_url, namespace="short", ttl=90.5)
    try:
        claim = week.claim("k", "models/m", "h", "t", None)
        short.claim("k", "models/m", "h", "t", None)
        with redis.Redis.from_url(redis_url) as conn:
            assert WEEK_MS - 60_000 < conn.pttl("knouds:journal:week:k") <= WEEK_MS
            assert 90_000 < conn.pttl("knouds:journal:short:k") <= 90_500
            conn.persist("knouds:journal:week:k")
            assert week.record(claim.entry, state="completed", result={"cost": 1})
            assert WEEK_MS - 60_000 < conn.pttl("knouds:journal:week:k") <= WEEK_MS  # rewritten
    finally:
        week.close()
        short.close()


def test_a_redis_journal_record_needs_the_claim_it_was_read_with(redis_url: str) -> None:
    journal = knouds.RedisJournal(redis_url)
    try:
        first = journal.claim("k", "models/m", "h", "t1", None)
        assert journal.record(first.entry, state="rejected", error={"message": "402"})
        second = journal.claim("k", "models/m", "h", "t2", None)
        assert second.claimed  # nothing ran: claimed again

        # The first run's late write must not overwrite the run now holding the key.
        assert not journal.record(first.entry, state="completed", result={"cost": 4})
        entry = journal.get("k")
        assert entry is not None
        assert (entry.token, entry.state, entry.result) == ("t2", "started", None)
        assert journal.record(second.entry, state="completed", result={"cost": 4})
    finally:
        journal.close()


SECRET_PART = API_KEY.removeprefix("knouds_live_")


@pytest.mark.parametrize("echoed", [API_KEY, SECRET_PART], ids=["whole key", "secret part"])
def test_a_stored_error_keeps_neither_the_key_nor_its_secret_part(echoed: str) -> None:
    error = knouds.AuthenticationError(
        f"The key {echoed} is not valid",
        status_code=401,
        code="INVALID_KEY",
        body={"error": {"message": f"no key {echoed}", "seen": [echoed]}, echoed: "as a name"},
    )

    stored = describe_error(error, API_KEY)

    assert stored["message"] == "The key *** is not valid"
    body = {"error": {"message": "no key ***", "seen": ["***"]}, "***": "as a name"}
    assert stored["body"] == body
    assert SECRET_PART not in json.dumps(stored)


def test_a_short_secret_part_does_not_mask_ordinary_words() -> None:
    error = knouds.BadRequestError("the abc of it", status_code=400, body={"m": "abc"})
    stored = describe_error(error, "knouds_live_abc")
    assert (stored["message"], stored["body"]) == ("the abc of it", {"m": "abc"})
    assert describe_error(error, "the abc")["message"] == "*** of it"


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_a_journaled_failure_echoing_the_secret_part_is_stored_without_it(
    make_client: MakeClient, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "BAD", "message": f"key …{SECRET_PART} cannot run this"}}
        return httpx.Response(400, json=body)

    if backend == "sqlite":
        target: str = str(tmp_path / "runs.sqlite")
    else:
        target = request.getfixturevalue("redis_url")
    client = make_client(handler, journal=target)
    with pytest.raises(knouds.BadRequestError):
        await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="order-1"))
    client._journal.close()

    if backend == "sqlite":
        with sqlite3.connect(target) as conn:
            stored = [row[0] for row in conn.execute("SELECT data FROM knouds_runs")]
    else:
        with redis.Redis.from_url(target) as conn:
            stored = [conn.get(key).decode() for key in conn.scan_iter("knouds:journal:*")]
    assert len(stored) == 1
    assert "cannot run this" in stored[0]
    assert SECRET_PART not in stored[0]
