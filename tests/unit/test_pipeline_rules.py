"""Rules of the run pipeline the exit test does not cover: one account, one history; journal and
store I/O of the async client kept off the event loop.

Both clients, real SQLite files.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import knouds
from tests._support.redis_server import RedisServer
from tests.conftest import API_KEY, resolve

MODEL = "gpt-image-2"
OTHER_KEY = "knouds_live_other_fedcba9876543210"


def _counting() -> tuple[Any, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        key = request.headers["x-api-key"]
        body = {"success": True, "result": {"images": [f"https://cdn.test/{key[-4:]}.png"]}}
        return httpx.Response(200, json={**body, "cost": 4})

    return handler, seen


async def test_a_copy_for_another_key_is_never_answered_from_the_first_keys_runs(
    make_client: Any, tmp_path: Path
) -> None:
    handler, seen = _counting()
    client = make_client(handler, journal=str(tmp_path / "runs.sqlite"))
    first = await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))
    other = client.with_options(api_key=OTHER_KEY)

    with pytest.raises(knouds.IdempotencyConflictError, match="another account"):
        await resolve(other.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))
    # A batch of the same inputs: the same, input by input.
    outcomes = await resolve(other.models.run_many(MODEL, [{"prompt": "fox"}]))
    assert isinstance(outcomes[0], knouds.RunResult)  # no journal key: run for this account

    assert len(seen) == 2
    assert first.images[0].url.endswith("cdef.png")
    same = await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))
    assert same.from_journal


async def test_two_clients_of_two_keys_sharing_one_journal_keep_their_runs_apart(
    make_client: Any, tmp_path: Path
) -> None:
    handler, seen = _counting()
    path = str(tmp_path / "runs.sqlite")
    ours = make_client(handler, journal=path)
    theirs = make_client(handler, journal=path, api_key=OTHER_KEY)
    batch = [{"prompt": "a"}, {"prompt": "b"}]

    done = await resolve(ours.models.run_many(MODEL, batch))
    again = await resolve(theirs.models.run_many(MODEL, batch))

    assert all(isinstance(outcome, knouds.RunResult) for outcome in done)
    # Never the first account's results, never sent again for it either.
    assert all(isinstance(outcome, knouds.IdempotencyConflictError) for outcome in again)
    assert len(seen) == 2
    assert {request.headers["x-api-key"] for request in seen} == {API_KEY}


@pytest.mark.parametrize("client_kind", ["async"])  # the sync client's caller is the waiter
async def test_opening_a_batch_journal_never_blocks_the_event_loop(
    make_client: Any, tmp_path: Path
) -> None:
    path = tmp_path / "batch.sqlite"
    knouds.SQLiteJournal(str(path)).close()
    handler, _ = _counting()
    client = make_client(handler)
    # Another process's writer holds the file's write lock for a while.
    holder = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(2.0, lambda: holder.execute("COMMIT"))
    release.start()

    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        outcomes = await client.models.run_many(MODEL, [{"prompt": "x"}], journal=str(path))
    finally:
        ticking.cancel()
        release.join()
        holder.close()

    assert isinstance(outcomes[0], knouds.RunResult)
    assert max(gaps) < 1.0  # the loop kept serving other tasks while the file was locked


@pytest.mark.parametrize("client_kind", ["async"])
async def test_the_async_client_opens_and_closes_its_journal_off_the_event_loop(
    make_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, _ = _counting()
    loop_thread = threading.get_ident()
    opened_on: list[int] = []
    closed_on: list[int] = []
    real_init = knouds.SQLiteJournal.__init__
    real_close = knouds.SQLiteJournal.close

    def init(self: knouds.SQLiteJournal, *args: Any, **kwargs: Any) -> None:
        opened_on.append(threading.get_ident())
        real_init(self, *args, **kwargs)

    def close(self: knouds.SQLiteJournal) -> None:
        closed_on.append(threading.get_ident())
        real_close(self)

    monkeypatch.setattr(knouds.SQLiteJournal, "__init__", init)
    monkeypatch.setattr(knouds.SQLiteJournal, "close", close)
    client = make_client(handler, journal=str(tmp_path / "runs.sqlite"))
    assert opened_on == []  # not at construction: on first use
    await client.models.run(MODEL, {"prompt": "x"})
    await client.models.run_many(MODEL, [{"prompt": "y"}], journal=str(tmp_path / "b.sqlite"))
    await client.aclose()

    assert len(opened_on) == 2
    assert loop_thread not in opened_on
    assert len(closed_on) == 2
    assert loop_thread not in closed_on


async def test_a_bad_idempotency_key_is_a_configuration_error_and_sends_nothing(
    make_client: Any, tmp_path: Path
) -> None:
    handler, seen = _counting()
    client = make_client(handler, journal=str(tmp_path / "runs.sqlite"))
    for key in ("", "x" * 501, 7):
        with pytest.raises(knouds.ConfigurationError, match="idempotency_key"):
            await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key=key))
    assert seen == []
    assert client.journal.entries() == []


async def test_the_api_key_is_never_stored_in_a_journal(make_client: Any, tmp_path: Path) -> None:
    handler, _ = _counting()
    client = make_client(handler, journal=str(tmp_path / "runs.sqlite"))
    await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="k"))
    await resolve(client.close())
    stored = _bytes_of(tmp_path)
    assert API_KEY.encode() not in stored
    assert API_KEY.split("_")[-1].encode() not in stored


async def test_a_locked_journal_holds_a_call_no_longer_than_its_deadline(
    make_client: Any, tmp_path: Path
) -> None:
    handler, seen = _counting()
    path = tmp_path / "runs.sqlite"
    knouds.SQLiteJournal(str(path)).close()
    client = make_client(handler, journal=str(path), clock=time.time)
    assert client.journal is not None  # opened before another process takes the write lock
    holder = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer, holding the lock for long
    try:
        started = time.monotonic()
        with pytest.raises(knouds.JournalError, match="locked"):
            await resolve(
                client.models.run(MODEL, {"prompt": "x"}, retry=knouds.RetryPolicy(deadline=0.5))
            )
        took = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert took < 5  # the journal's own wait is 30 s; the call's deadline bounds it
    assert seen == []  # nothing sent: the claim could not be made


async def test_a_frozen_redis_journal_holds_a_call_no_longer_than_its_deadline(
    make_client: Any, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    handler, seen = _counting()
    journal = knouds.RedisJournal(redis_server.url)
    client = make_client(handler, journal=journal)
    await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="warm"))
    assert redis_server.pid is not None
    os.kill(redis_server.pid, signal.SIGSTOP)  # a paused server: connected, never answering
    try:
        started = time.monotonic()
        with pytest.raises(knouds.JournalError):
            await resolve(
                client.models.run(
                    MODEL,
                    {"prompt": "x"},
                    idempotency_key="k",
                    retry=knouds.RetryPolicy(deadline=0.5),
                )
            )
        took = time.monotonic() - started
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)

    # The store's own read timeout is 5 s, for the claim and again for its hand-back (sent
    # right behind the claim, on the same connection: nothing more to wait for).
    assert took < 2.5
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert not [w for w in warnings if "hand back" in w]
    assert len(seen) == 1  # nothing sent: the claim could not be made
    # Once the server wakes it runs the claim sent in time and its hand-back: the key is free,
    # and the next run is sent (not reported as an unknown outcome).
    result = await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="k"))
    assert not result.from_journal
    assert len(seen) == 2
    journal.close()


async def test_a_claim_a_frozen_redis_never_answered_is_handed_back_without_a_deadline(
    make_client: Any, redis_server: RedisServer
) -> None:
    import redis

    handler, seen = _counting()
    conn = redis.Redis.from_url(redis_server.url, socket_timeout=0.5)  # the client's own bound
    journal = knouds.RedisJournal(conn)
    client = make_client(handler, journal=journal)
    await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="warm"))
    assert redis_server.pid is not None
    os.kill(redis_server.pid, signal.SIGSTOP)
    try:
        with pytest.raises(knouds.JournalError):
            await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="k"))
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)

    # The claim ran when the server woke, and its hand-back right after it: the key is free.
    result = await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="k"))
    assert not result.from_journal
    assert len(seen) == 2
    journal.close()
    conn.close()


async def test_inputs_json_cannot_carry_are_refused_in_their_slot_of_a_journaled_batch(
    make_client: Any, tmp_path: Path
) -> None:
    handler, seen = _counting()
    client = make_client(handler)
    inputs: list[dict[str, object]] = [
        {"prompt": "fine"},
        {"prompt": 10**5000},  # past the integer digit limit of repr and json
        {"prompt": "\ud800"},  # a lone surrogate
    ]

    outcomes = await resolve(
        client.models.run_many(MODEL, inputs, journal=str(tmp_path / "batch.sqlite"))
    )

    assert isinstance(outcomes[0], knouds.RunResult)
    for outcome in outcomes[1:]:
        assert isinstance(outcome, knouds.InvalidInputsError)
        assert outcome.status_code is None
    assert len(seen) == 1


async def test_a_claim_written_before_its_store_failed_is_handed_back(
    make_client: Any, tmp_path: Path
) -> None:
    handler, seen = _counting()
    client = make_client(handler, journal=str(tmp_path / "runs.sqlite"))
    journal = client.journal
    real_claim = journal._claim
    failures = {"left": 1}

    def claim(*args: Any) -> Any:
        answer = real_claim(*args)  # written: then the store's answer is lost
        if failures["left"]:
            failures["left"] -= 1
            raise TimeoutError("the store timed out after applying the claim")
        return answer

    journal._claim = claim
    with pytest.raises(knouds.JournalError):
        await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="k"))

    assert journal.get("k").state == "rejected"  # handed back: nothing was sent
    result = await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="k"))
    assert isinstance(result, knouds.RunResult)
    assert len(seen) == 1


async def test_a_hand_back_that_fails_is_logged_as_such(
    make_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handler, seen = _counting()
    client = make_client(handler, journal=str(tmp_path / "runs.sqlite"))
    journal = client.journal

    def failing(*args: Any) -> Any:
        raise knouds.JournalError("the store is away")

    journal._claim = failing
    journal.abandon = failing
    with pytest.raises(knouds.JournalError):
        await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="k"))

    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["Could not hand back the claim of journaled run 'k': the store is away"]
    assert seen == []


async def test_a_budget_counts_by_its_own_clock_whatever_the_clients(make_client: Any) -> None:
    handler, seen = _counting()  # each run charges 4
    day = 86_400.0
    budget = knouds.Budget(10, period=day, clock=lambda: 100 * day + 3600)
    # A client on another clock (here four days ahead) shares the budget.
    client = make_client(handler, budget=budget, clock=lambda: 104 * day + 3600)
    await resolve(client.models.run(MODEL, {"prompt": "x"}))
    await resolve(client.models.run(MODEL, {"prompt": "x"}))

    assert budget.spent == 8  # counted in the budget's day, the one it reports and limits
    with pytest.raises(knouds.BudgetExceededError):
        await resolve(client.models.run(MODEL, {"prompt": "x"}))
    assert len(seen) == 2


def test_an_interrupt_between_two_holds_keeps_neither() -> None:
    from knouds._core.spend import RunRef
    from knouds._stores.spend import BatchSpend, SpendTracker

    budget = knouds.Budget(100, prices={MODEL: 4})
    ledger = SpendTracker(budget)
    batch = BatchSpend(1, 10, None)
    assert batch.budget is not None

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    batch.budget._store.hold = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        ledger.begin(RunRef("model", MODEL), batch)

    assert budget.held == 0  # the client's hold, taken first, was given back


async def test_a_failure_between_the_budgets_hold_and_the_batchs_keeps_neither(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from knouds._stores.budget_store import MemoryBudgetStore

    handler, seen = _counting()
    budget = knouds.Budget(100, prices={MODEL: 4})
    client = make_client(handler, budget=budget)
    real_hold = MemoryBudgetStore.hold

    def hold(self: MemoryBudgetStore, *args: Any, **kwargs: Any) -> Any:
        if self is not budget._store:  # the batch's max_credits, held after the budget's
            raise RuntimeError("planted: the batch's store failed")
        return real_hold(self, *args, **kwargs)

    monkeypatch.setattr(MemoryBudgetStore, "hold", hold)
    outcomes = await resolve(client.models.run_many(MODEL, [{"prompt": "x"}], max_credits=10))

    assert isinstance(outcomes[0], knouds.KnoudsError)
    assert "planted" in str(outcomes[0])
    assert budget.held == 0  # the client's hold, taken first, was given back
    assert budget.spent == 0
    assert seen == []


@pytest.mark.parametrize("client_kind", ["async"])  # only the async driver defers a cancellation
async def test_a_cancellation_that_lands_with_a_refusal_still_cancels_the_task(
    make_client: Any,
) -> None:
    from knouds._stores.budget import MemoryBudgetStore

    class ThreadedStore(MemoryBudgetStore):
        blocking = True  # reached from a worker thread, as Redis is

    handler, seen = _counting()
    budget = knouds.Budget(1, prices={MODEL: 4})  # every run is refused
    store = ThreadedStore()
    budget._store = store
    client = make_client(handler, budget=budget)
    loop = asyncio.get_running_loop()
    task: asyncio.Task[Any] | None = None
    real_hold = store.hold

    def hold(*args: Any, **kwargs: Any) -> Any:
        assert task is not None
        loop.call_soon_threadsafe(task.cancel)  # cancelled while the hold is under way
        time.sleep(0.05)
        return real_hold(*args, **kwargs)

    store.hold = hold  # type: ignore[method-assign]
    task = asyncio.ensure_future(client.models.run(MODEL, {"prompt": "x"}))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert seen == []


def _bytes_of(folder: Path) -> bytes:
    """Every byte of the files in ``folder`` (a journal's database and its write-ahead log)."""
    return b"".join(path.read_bytes() for path in folder.iterdir())
