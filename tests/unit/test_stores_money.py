"""Money kept by the stores, checked against the real backends (a SQLite file, a real Redis).

Budgets count exactly, also next to shared pacing on the same Redis; corrections below a hold
land; periods, journal lifetimes and stored errors are what they say.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

import knouds
import knouds._stores.redis
from knouds._core.journal import describe_error
from knouds._stores.budget import MemoryBudgetStore
from knouds.testing import responses
from tests._support.redis_server import RedisServer
from tests.conftest import API_KEY, FakeTime, resolve

MakeClient = Callable[..., Any]
MODEL = "gpt-5-mini"
EXEC_ID = "3f6c1b1e-6a0e-4f7b-9a52-0d3c2f1e9b77"


def hold(budget: knouds.Budget, amount: float) -> Any:
    return budget._hold(amount, scope="client", what="a run")


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


@pytest.mark.parametrize("decoded", [False, True], ids=["bytes", "decode_responses"])
def test_a_claim_reaching_redis_after_its_hand_back_writes_nothing(
    redis_url: str, decoded: bool
) -> None:
    # A stalled server may run a claim its caller gave up on after the hand-back that followed.
    conn = redis.Redis.from_url(redis_url, decode_responses=decoded)
    journal = knouds.RedisJournal(conn)
    try:
        assert not journal.abandon("k", "late", {"message": "gave up"})  # nothing to hand back
        with pytest.raises(knouds.JournalError, match="handed back"):
            journal.claim("k", "models/m", "h", "late", None)
        assert journal.get("k") is None  # the key stays free: the next run is sent
        assert journal.claim("k", "models/m", "h", "next", None).claimed

        # In the other order, the hand-back removes the claim it finds, and only that one.
        assert not journal.abandon("k", "late", {"message": "gave up"})  # another claim's key
        assert journal.get("k") is not None
        assert journal.abandon("k", "next", {"message": "interrupted"})
        assert journal.get("k") is None

        # Two claims handed back since the key was last claimed: neither writes; any other does.
        assert not journal.abandon("k", "late2", {"message": "gave up"})
        assert journal.entries() == []  # a hand-back is no entry
        for token in ("next", "late2"):
            with pytest.raises(knouds.JournalError, match="handed back"):
                journal.claim("k", "models/m", "h", token, None)
        # Many hand-backs: the oldest are forgotten first, the newest always kept.
        tokens = [f"{i:032x}" for i in range(130)]  # as long as the pipeline's tokens
        for token in tokens:
            journal.abandon("k", token, {"message": "gave up"})
        for token in (tokens[-1], tokens[-100], tokens[20]):
            with pytest.raises(knouds.JournalError, match="handed back"):
                journal.claim("k", "models/m", "h", token, None)
        third = journal.claim("k", "models/m", "h", "third", None)
        assert third.claimed
        assert journal.record(third.entry, state="completed", result={"cost": 1})
    finally:
        journal.close()
        conn.close()


def test_a_redis_journal_claims_again_after_the_server_restarted(redis_server: RedisServer) -> None:
    journal = knouds.RedisJournal(redis_server.url)
    try:
        assert journal.claim("before", "models/m", "h", "t1", None).claimed
        redis_server.stop()  # its connections are closed; it comes back on the same port
        redis_server.start()
        assert journal.claim("after", "models/m", "h", "t2", None).claimed
        entry = journal.get("after")
        assert entry is not None
        assert entry.token == "t2"
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
    client.journal.close()

    if backend == "sqlite":
        with sqlite3.connect(target) as conn:
            stored = [row[0] for row in conn.execute("SELECT data FROM knouds_runs")]
    else:
        with redis.Redis.from_url(target) as conn:
            stored = [conn.get(key).decode() for key in conn.scan_iter("knouds:journal:*")]
    assert len(stored) == 1
    assert "cannot run this" in stored[0]
    assert SECRET_PART not in stored[0]


# -- what the Redis server keeps ------------------------------------------------------------------


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Warnings given once per server are given again in this test."""
    monkeypatch.setattr(knouds._stores.redis, "_warned", set())


@contextlib.contextmanager
def server_config(url: str, **settings: str) -> Iterator[None]:
    """The test server with some ``CONFIG SET`` settings, restored afterwards."""
    with redis.Redis.from_url(url) as conn:
        names = [name.replace("_", "-") for name in settings]
        before = {name: conn.config_get(name)[name] for name in names}
        for name, value in zip(names, settings.values(), strict=True):
            conn.config_set(name, value)
        try:
            yield
        finally:
            for name, value in before.items():
                conn.config_set(name, value)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "knouds" and r.levelname == "WARNING"
    ]


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl"])
async def test_a_journal_refuses_a_server_that_may_evict_its_entries(
    redis_url: str, policy: str, make_client: MakeClient, fresh_warnings: None
) -> None:
    with server_config(redis_url, maxmemory_policy=policy):
        with pytest.raises(knouds.ConfigurationError, match=f"maxmemory-policy {policy}"):
            knouds.RedisJournal(redis_url)
        # The sync client opens its journal at once, the async one at its first run (from a
        # worker thread): either way, before anything is sent.
        sent: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return httpx.Response(500)

        async def first_run() -> None:
            client = make_client(handler, journal=redis_url)
            await resolve(client.models.run(MODEL, {"prompt": "x"}))

        with pytest.raises(knouds.ConfigurationError, match="allow_eviction=True"):
            await first_run()
        assert sent == []

        accepted = knouds.RedisJournal(redis_url, allow_eviction=True)  # the risk, accepted
        assert accepted.claim("k", "models/m", "h", "t", None).claimed
        accepted.close()
    knouds.RedisJournal(redis_url).close()  # noeviction again: accepted


def test_a_budget_on_a_server_that_may_evict_is_warned_about(
    redis_url: str, caplog: pytest.LogCaptureFixture, fresh_warnings: None
) -> None:
    with server_config(redis_url, maxmemory_policy="allkeys-lru", appendonly="yes"):
        with caplog.at_level("WARNING", logger="knouds"):
            budget = knouds.Budget(10, store=redis_url, name="evicting")
            knouds.Budget(10, store=redis_url, name="again")
        budget._settle(hold(budget, 1), 1)
    assert budget.spent == 1
    (warning,) = warnings_of(caplog)
    assert "maxmemory-policy allkeys-lru" in warning
    assert "credit budget" in warning


def test_persistence_off_is_one_warning_per_server(
    redis_url: str, caplog: pytest.LogCaptureFixture, fresh_warnings: None
) -> None:
    # The test server runs without persistence.
    with caplog.at_level("WARNING", logger="knouds"):
        for _ in range(3):
            knouds.RedisJournal(redis_url).close()
        knouds.Budget(10, store=redis_url)
    (warning,) = warnings_of(caplog)
    assert "persistence off" in warning
    assert "run journal" in warning

    caplog.clear()
    knouds._stores.redis._warned.clear()
    with server_config(redis_url, save="900 1"), caplog.at_level("WARNING", logger="knouds"):
        knouds.RedisJournal(redis_url).close()
        knouds.Budget(10, store=redis_url)
    assert warnings_of(caplog) == []


def test_a_server_that_refuses_config_is_one_warning_that_it_was_not_checked(
    redis_url: str, caplog: pytest.LogCaptureFixture, fresh_warnings: None
) -> None:
    # A managed server: the user may run scripts but not CONFIG.
    with redis.Redis.from_url(redis_url) as admin:
        admin.acl_setuser(
            "app", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-config"]
        )
        try:
            url = redis_url.replace("redis://", "redis://app:pw@")
            with caplog.at_level("WARNING", logger="knouds"):
                journal = knouds.RedisJournal(url)
                knouds.RedisJournal(url).close()
                budget = knouds.Budget(10, store=url)
            assert journal.claim("k", "models/m", "h", "t", None).claimed
            journal.close()
            budget._settle(hold(budget, 1), 1)
        finally:
            admin.acl_deluser("app")
    (warning,) = warnings_of(caplog)
    assert "Could not check" in warning
    assert "noeviction" in warning


# -- SQLite journal: purging and opening --------------------------------------------------------

DAY = 86_400.0


def stored_keys(path: Path) -> list[str]:
    """The keys stored in a journal file, expired or not."""
    with sqlite3.connect(path) as conn:
        return sorted(row[0] for row in conn.execute("SELECT key FROM knouds_runs"))


def test_a_clock_days_ahead_purges_no_live_record(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    now = 1_800_000_000.0
    others = knouds.SQLiteJournal(path, clock=lambda: now)
    for key in ("order-1", "order-2"):
        claim = others.claim(key, "models/m", "h", f"t-{key}", None)
        others.record(claim.entry, state="completed", result={"cost": 4})
    others.close()

    # One process whose clock runs 8 days ahead (the entries live a week) opens the file.
    knouds.SQLiteJournal(path, clock=lambda: now + 8 * DAY).close()

    assert stored_keys(path) == ["order-1", "order-2"]
    back = knouds.SQLiteJournal(path, clock=lambda: now + 60)
    entry = back.get("order-1")
    assert entry is not None
    assert entry.state == "completed"
    back.close()


def test_entries_expired_by_every_clock_are_purged(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    now = [1_800_000_000.0 - 8 * DAY]
    journal = knouds.SQLiteJournal(path, clock=lambda: now[0])
    journal.claim("old", "models/m", "h", "t1", None)  # expires a day before "now"
    now[0] += 8 * DAY
    journal.claim("new", "models/m", "h", "t2", None)
    journal.close()

    knouds.SQLiteJournal(path, clock=lambda: now[0]).close()

    assert stored_keys(path) == ["new"]


def test_a_new_journal_file_opens_while_another_connection_writes_to_it(tmp_path: Path) -> None:
    # Switching a new file to WAL fails at once, without waiting, while another connection
    # holds a write lock: the journal waits its turn instead.
    path = tmp_path / "runs.sqlite"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    release.start()
    try:
        journal = knouds.SQLiteJournal(path, busy_timeout=10)
        assert journal.claim("k", "models/m", "h", "t", None).claimed
        journal.close()
    finally:
        release.join()
        other.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _open_together(directory: str, rounds: int, barrier: Any, failures: Any) -> None:
    """One of several processes opening the same new journal file each round, at once."""
    import os

    for round_ in range(rounds):
        barrier.wait(timeout=30)
        try:
            journal = knouds.SQLiteJournal(Path(directory) / f"round-{round_}.sqlite")
            journal.claim(f"k-{os.getpid()}", "models/m", "h", "t", None)
            journal.close()
        except Exception as error:
            failures.put(f"{type(error).__name__}: {error}")


def test_several_processes_open_one_new_journal_at_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    processes, rounds = 8, 60
    barrier = context.Barrier(processes)
    failures = context.Queue()
    workers = [
        context.Process(target=_open_together, args=(str(tmp_path), rounds, barrier, failures))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0] * processes
    found: list[str] = []
    while not failures.empty():
        found.append(failures.get())
    assert found == []
    for round_ in range(rounds):
        assert len(stored_keys(tmp_path / f"round-{round_}.sqlite")) == processes


# -- holds that outlive hold_ttl, charges a stalled Redis could not take -------------------------


def test_a_hold_of_this_process_lives_until_settled_in_memory(fake_time: FakeTime) -> None:
    budget = knouds.Budget(8, hold_ttl=1, clock=fake_time.time)
    first, second = hold(budget, 4), hold(budget, 4)
    fake_time.advance(3600)  # runs far longer than hold_ttl
    with pytest.raises(knouds.BudgetExceededError, match="8 held by runs in flight"):
        hold(budget, 4)
    budget._settle(first, 4)
    budget._settle(second, 4)
    assert (budget.spent, budget.held) == (8, 0)


def test_runs_longer_than_hold_ttl_never_start_others_past_the_budget(fake_time: FakeTime) -> None:
    # Six threads, runs of a known price 4, a budget of 8: two runs, whatever they last.
    in_flight = threading.Semaphore(0)
    finish = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        fake_time.advance(5)  # each run lasts longer than hold_ttl
        in_flight.release()
        finish.wait(3)
        return httpx.Response(200, json={"success": True, "result": {}, "cost": 4, "ms": 5000})

    budget = knouds.Budget(8, hold_ttl=1, prices={MODEL: 4}, clock=fake_time.time)
    client = knouds.Client(
        api_key=API_KEY,
        base_url="https://api.example.test",
        clock=fake_time.time,
        sleep=fake_time.sleep,
        budget=budget,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    outcomes: list[str] = []

    def run() -> None:
        try:
            client.models.run(MODEL, {"prompt": "x"})
            outcomes.append("ran")
        except knouds.BudgetExceededError:
            outcomes.append("refused")

    first = [threading.Thread(target=run) for _ in range(2)]
    for thread in first:
        thread.start()
    assert in_flight.acquire(timeout=10)
    assert in_flight.acquire(timeout=10)
    rest = [threading.Thread(target=run) for _ in range(4)]
    for thread in rest:
        thread.start()
    for thread in rest:
        thread.join(10)
    finish.set()
    for thread in first:
        thread.join(10)
    client.close()

    assert sorted(outcomes) == ["ran", "ran", "refused", "refused", "refused", "refused"]
    assert budget.spent == 8


class FlakyRedis(redis.Redis):
    """A real Redis client whose settle script fails while ``settles_fail`` is set: before
    reaching the server, or (``answers_lost``) after the server ran it."""

    settles_fail = False
    answers_lost = False

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        settling = self.settles_fail and sha == self._settle_sha
        if settling and not self.answers_lost:
            raise redis.ConnectionError("connection reset")
        answer = super().evalsha(sha, numkeys, *keys_and_args)
        if settling:
            raise redis.TimeoutError("timed out reading the answer")
        return answer

    @property
    def _settle_sha(self) -> str:
        from knouds._stores.redis_budget import _SETTLE

        sha: str = self.script_load(_SETTLE)
        return sha


@pytest.mark.parametrize("answers_lost", [False, True], ids=["lost", "ran, answer lost"])
def test_a_charge_redis_could_not_take_is_kept_and_written_once(
    redis_url: str, fake_time: FakeTime, answers_lost: bool, caplog: pytest.LogCaptureFixture
) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    connection = FlakyRedis(host="127.0.0.1", port=port)
    budget = knouds.Budget(10, store=connection, name="stall", hold_ttl=30, clock=fake_time.time)
    run = hold(budget, 4)
    connection.settles_fail, connection.answers_lost = True, answers_lost
    with caplog.at_level("WARNING", logger="knouds"):
        budget._settle(run, 4)  # the run ended; its charge could not be written
    assert "Could not count 4 credits in the credit budget 'stall' yet" in caplog.text

    fake_time.advance(31)  # its hold expired in Redis meanwhile
    # Counted here meanwhile; a charge that landed although its answer was lost is counted
    # in Redis too until the retry settles it: never less than charged.
    assert budget.spent == (8 if answers_lost else 4)
    with pytest.raises(knouds.BudgetExceededError, match="cannot be checked"):
        hold(budget, 4)  # refused while a charge cannot be written

    connection.settles_fail = False
    hold(budget, 4)  # writes the kept charge first
    with pytest.raises(knouds.BudgetExceededError, match="4 held"):
        hold(budget, 4)
    elsewhere = knouds.Budget(10, store=redis_url, name="stall", clock=fake_time.time)
    assert (elsewhere.spent, budget.spent) == (4, 4)  # landed in Redis, and once
    connection.close()


def test_charges_of_runs_ending_during_a_redis_stall_are_counted_once(
    redis_url: str, fake_time: FakeTime
) -> None:
    budget = knouds.Budget(10, store=redis_url, name="paused", hold_ttl=30, clock=fake_time.time)
    runs = [hold(budget, 4), hold(budget, 4)]
    with redis.Redis.from_url(redis_url) as admin:
        admin.execute_command("CLIENT", "PAUSE", "1200", "ALL")  # a stalled server
        for run in runs:
            budget._settle(run, 3.5)  # each waits the store's 0.5 s timeout, and fails
        while True:  # the stall ends (real time: a paused server cannot be sped up)
            try:
                admin.ping()
                break
            except redis.TimeoutError:  # pragma: no cover - depends on the machine's speed
                continue

    fake_time.advance(31)  # the holds expired in Redis meanwhile
    assert (budget.spent, budget.held) == (7, 0)
    with pytest.raises(knouds.BudgetExceededError, match="7 counted so far"):
        hold(budget, 4)
    other = knouds.Budget(10, store=redis_url, name="paused", clock=fake_time.time)
    assert other.spent == 7
