"""The Lua scripts behind the Redis stores, checked by planting mistakes into them.

Mutation tools do not reach inside the scripts that keep the run journal, the credit budget and
shared pacing in Redis, so this module does it by hand: each plant is a realistic one-line mistake
(a flipped comparison, a wrong ``KEYS``/``ARGV`` index, a dropped command or return, ``PX`` for
``EX``, an off-by-one), planted into one script at a time before a store is built. The check of
that script, which exercises the store's promises through its Python API on a real Redis server,
must then fail on an assertion (a script that crashes in Redis does not count as caught); with the
real scripts every check passes.

Time is injected (the journal's and pacing's clocks, the budget's ``now``): nothing waits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar

import pytest
import redis

import knouds
from knouds._core.journal import JournalClaim, JournalEntry
from knouds._stores import pacing_scripts, redis_budget, redis_journal
from knouds._stores.budget import Totals
from knouds._stores.pacer import Pacer, Ticket
from knouds._stores.pacing_scripts import ScriptRunner, StoreCall
from knouds._stores.redis_budget import RedisBudgetStore
from knouds._stores.shared_pacing import Fallback, PaceTicket, SharedPacing, SharedTicket

T = TypeVar("T")
Check = Callable[[str], None]

T0 = 1_700_000_000.0

# -- the run journal --------------------------------------------------------------------------

TARGET, INPUTS = "models/m", "inputs-hash"
NAMESPACE = "plants"
TTL = 90.5  # seconds: the entries live 90 500 ms
ENTRY = f"knouds:journal:{NAMESPACE}:k"
ERROR = {"type": "KnoudsError", "message": "interrupted", "status_code": None, "code": None}


@contextmanager
def journal_on(url: str) -> Iterator[tuple[knouds.RedisJournal, redis.Redis]]:
    journal = knouds.RedisJournal(url, namespace=NAMESPACE, ttl=TTL, clock=lambda: T0)
    try:
        with redis.Redis.from_url(url) as conn:
            yield journal, conn
    finally:
        journal.close()


def take(
    journal: knouds.RedisJournal, token: str, replace: str | None = None
) -> JournalClaim | None:
    """Claim ``k`` with ``token``: the answer, or ``None`` when refused as handed back (any
    other failure, such as a script that crashes in Redis, is raised)."""
    try:
        return journal.claim("k", TARGET, INPUTS, token, replace)
    except knouds.JournalError as error:
        if "handed back" not in str(error):
            raise
        return None


def claimed(
    journal: knouds.RedisJournal, token: str, why: str, replace: str | None = None
) -> JournalEntry:
    """Claim ``k``, which must be granted: the entry written."""
    claim = take(journal, token, replace)
    assert claim is not None, f"{why} (refused as handed back)"
    assert claim.claimed, why
    return claim.entry


def refused(
    journal: knouds.RedisJournal, token: str, why: str, replace: str | None = None
) -> JournalEntry:
    """Claim ``k``, which must be refused: the entry holding it."""
    claim = take(journal, token, replace)
    assert claim is not None, f"{why} (refused as handed back)"
    assert not claim.claimed, why
    return claim.entry


def lives_for_the_ttl(conn: redis.Redis, key: str) -> bool:
    """Whether ``key`` expires after the journal's ttl, in milliseconds."""
    return 90_000 < int(conn.pttl(key)) <= 90_500


def holder(journal: knouds.RedisJournal) -> tuple[str, str] | None:
    entry = journal.get("k")
    return None if entry is None else (entry.token, entry.state)


def check_claim(url: str) -> None:
    with journal_on(url) as (journal, conn):
        claimed(journal, "t1", "a free key is claimed")
        assert lives_for_the_ttl(conn, ENTRY), "the entry lives ttl seconds (PX, in ms)"

        held = refused(journal, "t2", "a second claim of a held key is refused")
        assert held.token == "t1", "the refusal names the holder"
        assert holder(journal) == ("t1", "started")

        refused(journal, "t3", "replacing another token is refused", replace="t0")
        assert holder(journal) == ("t1", "started")

        dead = claimed(journal, "t4", "the claim of a dead run can be replaced", replace="t1")
        assert holder(journal) == ("t4", "started")

        assert journal.record(dead, state="rejected", error=ERROR)
        again = claimed(journal, "t5", "a rejected entry can be claimed again")
        assert holder(journal) == ("t5", "started")

        assert journal.record(again, state="completed", result={"cost": 1})
        done = refused(journal, "t6", "a completed run is not claimed again")
        assert done.state == "completed"
        assert holder(journal) == ("t5", "completed")


def check_update(url: str) -> None:
    with journal_on(url) as (journal, conn):
        first = claimed(journal, "t1", "a free key is claimed")
        conn.persist(ENTRY)
        assert journal.record(first, state="submitted", execution_id="e1"), (
            "the claim's own token updates its entry"
        )
        entry = journal.get("k")
        assert entry is not None
        assert (entry.state, entry.execution_id) == ("submitted", "e1")
        assert lives_for_the_ttl(conn, ENTRY), "an update writes the lifetime again (in ms)"

        stale = dataclasses.replace(first, token="t0")
        assert not journal.record(stale, state="completed", result={"cost": 9}), (
            "an update with a stale token is refused"
        )
        assert holder(journal) == ("t1", "submitted")

        assert journal.record(first, state="rejected", error=ERROR)
        second = claimed(journal, "t2", "a rejected entry can be claimed again")
        assert not journal.record(first, state="completed", result={"cost": 4}), (
            "a replaced claim's late write is refused"
        )
        assert holder(journal) == ("t2", "started")

        assert journal.forget("k")
        assert not journal.record(second, state="completed", result={"cost": 4}), (
            "an update of a forgotten entry is refused"
        )
        assert journal.get("k") is None, "an update does not bring a forgotten entry back"


def check_abandon(url: str) -> None:
    with journal_on(url) as (journal, conn):
        # A hand-back reaching the server before its claim (a stalled server).
        assert not journal.abandon("k", "late", ERROR), "no claim of that token to hand back"
        assert lives_for_the_ttl(conn, ENTRY), "the tombstone lives ttl seconds (ms)"
        assert not journal.abandon("k", "later", ERROR), "a second hand-back joins the first"
        assert take(journal, "late") is None, "a claim after its hand-back is refused"
        assert take(journal, "later") is None, "so is the second's"
        assert journal.get("k") is None, "a claim after its hand-back writes nothing"
        assert not journal.forget("k"), "a tombstone is no entry to forget"
        assert take(journal, "late") is None, "and forgetting the key keeps the tombstone"

        claimed(journal, "next", "the key is free for the next run")
        assert not journal.abandon("k", "late", ERROR), "a hand-back leaves other claims"
        assert holder(journal) == ("next", "started")
        assert journal.abandon("k", "next", ERROR), "a hand-back removes its own started claim"
        assert journal.get("k") is None
        assert lives_for_the_ttl(conn, ENTRY), "its tombstone lives ttl seconds (ms)"
        assert take(journal, "next") is None, "and the claim, run again late, writes nothing"

        ran = claimed(journal, "ran", "the key is free again")
        assert journal.record(ran, state="completed", result={"cost": 2})
        assert not journal.abandon("k", "ran", ERROR), "a recorded run is not handed back"
        assert holder(journal) == ("ran", "completed")


# -- the credit budget ------------------------------------------------------------------------

BUDGET = "plants"
BASE = "knouds:budget:{" + BUDGET + "}"
USED, HELD, EXPIRY = BASE + ":used", BASE + ":held", BASE + ":expiry"
SPENT, HOLDS, SETTLED = BASE + ":spent", BASE + ":holds", BASE + ":settled"
LIMIT = 10.0
HOLD_TTL = 30.0
KEEP = 600.0


def holds(
    store: RedisBudgetStore,
    hold_id: str,
    amount: float,
    now: float,
    *,
    key: str = BUDGET,
    exclusive: bool = False,
) -> bool:
    """Whether a hold of ``amount`` under a limit of 10 is granted."""
    granted, _ = store.hold(key, hold_id, amount, LIMIT, now, HOLD_TTL, KEEP, exclusive)
    return granted


def expires_within_keep(conn: redis.Redis, key: str) -> bool:
    return 0 < int(conn.ttl(key)) <= KEEP


def check_hold(url: str) -> None:
    with redis.Redis.from_url(url) as conn:
        store = RedisBudgetStore(conn)
        assert holds(store, "a", 4, T0), "a hold that fits is granted"
        assert not holds(store, "big", 6.5, T0), "a hold that does not fit is refused"
        assert store.totals(BUDGET, T0) == Totals(0, 4), "holds count in the totals"
        assert holds(store, "b", 6, T0), "a hold that fits exactly is granted"
        assert not holds(store, "zero", 0, T0), "nothing starts once the budget is committed"
        assert store.totals(BUDGET, T0) == Totals(0, 10)

        assert holds(store, "c", 10, T0 + HOLD_TTL), "holds expired (at their end) are ignored"
        assert conn.hkeys(HELD) == [b"c"], "and dropped"
        assert conn.zcard(EXPIRY) == 1
        store.settle(BUDGET, "c", 2, KEEP, "s-c")
        assert holds(store, "d", 8, T0 + HOLD_TTL), "a settled hold frees what it did not cost"
        assert not holds(store, "e", 0.5, T0 + HOLD_TTL)
        assert all(expires_within_keep(conn, key) for key in (USED, HELD, EXPIRY)), (
            "every key of the budget expires after keep"
        )

        # A run of unknown cost holds a marker shared by every process: one at a time.
        def marker(now: float) -> bool:
            return holds(store, "pending", 1, now, key="marker", exclusive=True)

        assert marker(T0), "a free marker is granted"
        assert not marker(T0), "a live marker is refused"
        assert holds(store, "other", 1, T0, key="marker"), "other holds are not refused"
        assert marker(T0 + HOLD_TTL), "an expired marker is free"


def check_settle(url: str) -> None:
    with redis.Redis.from_url(url) as conn:
        store = RedisBudgetStore(conn)
        assert holds(store, "a", 5, T0)
        store.settle(BUDGET, "a", 5, KEEP, "s1")
        assert store.totals(BUDGET, T0) == Totals(5, 0), "a settle counts the charge, not the hold"
        assert expires_within_keep(conn, USED), "the key ttl applies to the credits spent"
        assert expires_within_keep(conn, SETTLED), "and to the settlements counted"

        store.settle(BUDGET, "a", 5, KEEP, "s1")  # retried: the first answer was lost
        assert store.totals(BUDGET, T0) == Totals(5, 0), "a repeated settle id counts once"

        store.settle(BUDGET, "a", -2, KEEP, "s2")  # it cost 3
        assert store.totals(BUDGET, T0) == Totals(3, 0), "a negative correction counts"
        assert holds(store, "b", 7, T0), "the credits a settle gave back can be held again"
        assert not holds(store, "c", 0.5, T0)

        store.settle(BUDGET, "b", 7, KEEP)  # without a settlement id
        store.settle(BUDGET, "b", 0, KEEP)
        assert store.totals(BUDGET, T0) == Totals(10, 0)


def check_totals(url: str) -> None:
    with redis.Redis.from_url(url) as conn:
        store = RedisBudgetStore(conn)
        assert holds(store, "a", 1.5, T0)  # lives until T0 + 30
        assert holds(store, "b", 2.25, T0 + 10)  # until T0 + 40
        store.settle(BUDGET, "none", 3, KEEP, "s")
        assert store.totals(BUDGET, T0) == Totals(3, 3.75), "spent, and every live hold"
        assert store.totals(BUDGET, T0 + HOLD_TTL - 0.5) == Totals(3, 3.75)
        assert store.totals(BUDGET, T0 + HOLD_TTL) == Totals(3, 2.25), "a hold ends at its expiry"
        assert store.totals(BUDGET, T0 + 40) == Totals(3, 0)


# Counts of the earlier version, in floating-point credits: 2.01 and 4.1 are a hair below
# 2 010 000 and 4 100 000 micro-credits as doubles.
OLD_SPENT, OLD_HOLD = "2.01", "4.1"


def plant_old_counts(conn: redis.Redis, budget: str) -> None:
    base = "knouds:budget:{" + budget + "}"
    conn.set(base + ":spent", OLD_SPENT, px=600_000)
    conn.hset(base + ":holds", "old", OLD_HOLD)
    conn.pexpire(base + ":holds", 600_000)
    conn.zadd(base + ":expiry", {"old": T0 + 60})


def check_migrate(url: str) -> None:
    with redis.Redis.from_url(url) as conn:
        store = RedisBudgetStore(conn)
        plant_old_counts(conn, BUDGET)
        assert store.totals(BUDGET, T0) == Totals(2.01, 4.1), "old float counts are read"
        assert conn.get(USED) == b"2010000", "converted exactly (rounded, not truncated)"
        assert conn.hgetall(HELD) == {b"old": b"4100000"}
        assert conn.exists(SPENT, HOLDS) == 0, "the old keys are gone"
        assert 0 < int(conn.pttl(USED)) <= 600_000, "the old spent key's lifetime is kept"
        assert 0 < int(conn.pttl(HELD)) <= 600_000, "the old holds' lifetime is kept"
        assert store.totals(BUDGET, T0) == Totals(2.01, 4.1), "converted once"

        # The first script to touch the key converts it, whichever it is.
        plant_old_counts(conn, "by-hold")
        granted, before = store.hold("by-hold", "new", 3.89, LIMIT, T0, HOLD_TTL, 0)
        assert granted
        assert before == Totals(2.01, 4.1)
        assert store.totals("by-hold", T0) == Totals(2.01, 7.99), "up to the limit exactly"
        plant_old_counts(conn, "by-settle")
        store.settle("by-settle", "old", 1, 0, "s")
        assert store.totals("by-settle", T0) == Totals(3.01, 0)


# -- shared pacing ----------------------------------------------------------------------------

LEASE_MS = 60_000


def drive(flow: Generator[StoreCall, object, T]) -> T:
    """Run a pacing flow, sending each store call to the real Redis."""
    try:
        call = next(flow)
        while True:
            call = flow.send(call.run())
    except StopIteration as stop:
        value: T = stop.value
        return value


class Process:
    """One process pacing through the shared store, on the test's clock."""

    def __init__(
        self, conn: redis.Redis, now: list[float], namespace: str, fallback: Fallback = "raise"
    ) -> None:
        runner = ScriptRunner(conn, asynchronous=False, owned=False, timeout=5.0)

        def clock() -> float:
            return now[0]

        self.pacing = SharedPacing(runner, namespace, Pacer(clock), clock, fallback=fallback)

    def acquire(self, pace: bool = True) -> tuple[PaceTicket | None, float]:
        return drive(self.pacing.acquire("models", pace=pace))

    def slot(self) -> PaceTicket:
        ticket, wait = self.acquire()
        assert ticket is not None, f"expected a slot, was told to wait {wait} s"
        return ticket

    def release(self, ticket: PaceTicket, limit: int, remaining: int, reset: float) -> None:
        drive(self.pacing.release(ticket, knouds.RateLimit(limit, remaining, reset)))

    def slots_left(self) -> list[PaceTicket]:
        """The slots granted before one is told to wait (they stay in flight)."""
        granted: list[PaceTicket] = []
        for _ in range(20):
            ticket, wait = self.acquire()
            if ticket is None:
                assert wait > 0
                return granted
            granted.append(ticket)
        raise AssertionError("more than 20 slots granted")

    def fail_next_call(self, error: Exception) -> tuple[StoreCall, PaceTicket | None]:
        """Reserve a slot whose store call gets no answer: the call (a stalled server may still
        run it) and the slot the process took on its own, if any."""
        flow = self.pacing.acquire("models", pace=True)
        call = next(flow)
        try:
            flow.send(error)
        except StopIteration as stop:
            ticket: PaceTicket | None = stop.value[0]
            return call, ticket
        except knouds.RateLimitStoreError:
            return call, None
        raise AssertionError("a second store call")


def waits(process: Process, seconds: float) -> bool:
    ticket, wait = process.acquire()
    return ticket is None and wait == pytest.approx(seconds, abs=1e-6)


def pttl(conn: redis.Redis, namespace: str) -> int:
    """Milliseconds the counts of a namespace's window live."""
    return int(conn.pttl("knouds:ratelimit:{" + namespace + ":models}"))


def keys_expire(conn: redis.Redis, most_ms: int) -> bool:
    """Whether every key of the store expires, within ``most_ms``."""
    return all(0 < int(conn.pttl(key)) <= most_ms for key in conn.scan_iter())


def check_acquire(url: str) -> None:
    now = [T0]
    with redis.Redis.from_url(url) as conn:
        # One window shared by two processes: nothing beyond its limit goes.
        first, second = Process(conn, now, "shared"), Process(conn, now, "shared")
        in_flight = [first.slot()]
        assert isinstance(in_flight[0], SharedTicket), "nothing learnt yet: a slot"
        assert keys_expire(conn, LEASE_MS), "the counts expire with the lease"
        first.release(first.slot(), 3, 1, T0 + 10)  # 2 of 3 spent in this window
        in_flight.append(second.slot())
        assert waits(second, 10.05), "a slot beyond the limit waits for the reset"
        assert waits(first, 10.05), "in every process"
        unpaced = first.acquire(pace=False)[0]
        assert unpaced is not None, "an unpaced request still goes"
        in_flight.append(unpaced)
        now[0] = T0 + 10
        assert waits(first, 0.05), "the reset itself is a hair early"
        now[0] = (T0 + 10) + 0.05
        assert waits(first, 0.05), "a new window: the requests in flight may land in it"
        for ticket in in_flight:
            first.pacing.abandon(ticket)
        assert len(first.slots_left()) == 3, "once they failed, the window is whole again"

        # A process that died holding slots: they end with their lease.
        dead = Process(conn, now, "dead")
        now[0] = T0
        dead.release(dead.slot(), 2, 1, T0 + 10)
        dead.slot()  # its process dies: never handed back
        now[0] = (T0 + 10) + 0.05
        granted = dead.slots_left()
        assert len(granted) == 1, "the slot in flight counts in the new window"
        dead.pacing.abandon(granted[0])
        now[0] = T0 + 61
        assert len(dead.slots_left()) == 2, "once its lease is over, it counts no more"

        # Failed requests (no headers) taught nothing: once the window is over and every slot
        # came back, counting starts afresh.
        alone = Process(conn, now, "fresh")
        now[0] = T0
        alone.release(alone.slot(), 2, 0, T0 + 1)  # one of ours, one spent elsewhere
        now[0] = T0 + 2  # a new window: what others spent in the old one counts no more
        for ticket in [alone.slot(), alone.slot()]:
            alone.pacing.abandon(ticket)
        assert len(alone.slots_left()) == 2, "slots handed back count no more: start afresh"
        assert waits(alone, 0.05), "while slots are in flight, a full window polls"

        # Back after an outage, a process seeds the store with the headers it saw meanwhile.
        now[0] = T0
        seeded, other = Process(conn, now, "seeded", "local"), Process(conn, now, "seeded")
        _, local = seeded.fail_next_call(redis.ConnectionError("store down"))
        assert isinstance(local, Ticket), "the process paced on its own"
        seeded.release(local, 5, 2, T0 + 30)  # 3 of 5 spent, one of them maybe other's
        other.slot()  # in flight, no headers known to the store yet
        now[0] = T0 + 2  # past the next probe of the store
        assert len(seeded.slots_left()) == 2, "the window the process saw is counted"
        assert waits(seeded, 28.05), "and waited for"
        assert waits(other, 28.05), "by every process"
        assert pttl(conn, "seeded") > 87_000, "the counts live until the window ends, and a lease"

        # A reservation the client gave up on (no answer came), run late by a stalled server.
        now[0] = T0
        stalled = Process(conn, now, "stalled")
        stalled.release(stalled.slot(), 2, 1, T0 + 10)
        lost, paced_alone = stalled.fail_next_call(redis.TimeoutError("no answer"))
        assert paced_alone is None  # fallback="raise"
        stalled.slot()  # tells the store the lost reservation's token was given up
        assert lost.run() == [0, 0], "a given-up reservation is refused when it arrives"
        now[0] = T0 + 20
        assert len(stalled.slots_left()) == 1, "it pins no slot of the window"
        assert keys_expire(conn, 2 * LEASE_MS), "the given-up tokens expire too"


def check_release(url: str) -> None:
    now = [T0]
    with redis.Redis.from_url(url) as conn:
        # Responses of the current window show what other keys' users spent.
        others = Process(conn, now, "others")
        early, late = others.slot(), others.slot()
        others.release(early, 10, 9, T0 + 60)
        others.release(late, 10, 5, T0 + 60)
        assert len(others.slots_left()) == 5, "10, less 2 of ours, less 3 spent elsewhere"

        # The server rolled over before our clock: what is in flight counts in the new window.
        rolled = Process(conn, now, "rolled")
        rolled.release(rolled.slot(), 10, 5, T0 + 60)
        early, late = rolled.slot(), rolled.slot()
        rolled.release(early, 10, 9, T0 + 120)
        assert len(rolled.slots_left()) == 8, "the new window holds this answer and the other"

        # A window rolled over by our clock; a straggler of the old one teaches its limit only,
        # and the newer window's headers are learnt.
        window = Process(conn, now, "window")
        window.release(window.slot(), 3, 2, T0 + 10)
        straggler = window.slot()
        now[0] = (T0 + 10) + 0.05
        window.slot()  # rolled: the straggler still counts, one slot is left
        window.release(straggler, 4, 0, T0 + 10)  # the limit went up meanwhile
        newer = window.slots_left()
        assert len(newer) == 2, "the straggler's limit is learnt, its count is not"
        assert waits(window, 0.05), "the window is full: poll for its headers"
        window.release(newer[0], 4, 1, T0 + 90)
        assert pttl(conn, "window") > 139_000, "the counts live until the window ends, and a lease"
        assert waits(window, 90 - 10.05 + 0.05), "the newer window is learnt and waited for"
        assert keys_expire(conn, 180_000), "every count expires a lease after its window"

        # A wrong but plausible reset is corrected by the answer to a request reserved after it
        # was learnt, as the local pacer does; an answer to one reserved before still is not.
        now[0] = T0 + 500
        wrong = Process(conn, now, "wrong")
        before = wrong.slot()
        wrong.release(wrong.slot(), 5, 4, T0 + 3500)
        wrong.release(before, 5, 3, T0 + 530)  # reserved before the wrong reset was learnt
        assert pttl(conn, "wrong") > 3_000_000, "the older window is not learnt from it"
        now[0] = T0 + 501
        nearly = wrong.slot()  # within a second: another process's clock may be that far off
        now[0] = T0 + 502
        past = wrong.slot()
        right = wrong.slot()
        wrong.release(nearly, 5, 3, T0 + 530)
        wrong.release(past, 5, 2, T0 + 501)  # its window is over: it corrects nothing
        assert pttl(conn, "wrong") > 3_000_000, "neither corrects the wrong reset"
        wrong.release(right, 5, 4, T0 + 530)  # reserved after: the correction
        assert len(wrong.slots_left()) == 4, "5, less this answer: the corrected window"
        assert waits(wrong, 530 - 502 + 0.05), "the corrected window is waited for"

        # A wrong reset seeded by a process back from an outage is corrected the same way.
        now[0] = T0 + 600
        seeding = Process(conn, now, "seeded-wrong", "local")
        _, local = seeding.fail_next_call(redis.ConnectionError("store down"))
        assert isinstance(local, Ticket)
        seeding.release(local, 5, 4, T0 + 3600)  # wrong, but plausible
        now[0] = T0 + 602  # past the next probe: the reservation seeds the store
        seeding.slot()
        now[0] = T0 + 604
        seeding.release(seeding.slot(), 5, 3, T0 + 630)  # reserved after the seeding
        assert pttl(conn, "seeded-wrong") < 1_000_000, "the seeded reset is corrected"


# -- the plants -------------------------------------------------------------------------------

CHECKS: dict[str, Check] = {
    "claim": check_claim,
    "update": check_update,
    "abandon": check_abandon,
    "migrate": check_migrate,
    "hold": check_hold,
    "settle": check_settle,
    "totals": check_totals,
    "acquire": check_acquire,
    "release": check_release,
}

# A constant other script constants are built from: a plant in it is a plant in each of them.
BUILT_FROM: dict[tuple[ModuleType, str], tuple[str, ...]] = {
    (redis_budget, "_MIGRATE"): ("_HOLD", "_SETTLE", "_TOTALS"),
}
PRELUDES = {name for _, name in BUILT_FROM}


@dataclasses.dataclass(frozen=True)
class Plant:
    module: ModuleType
    constant: str
    old: str
    new: str
    check: Check


def plant(name: str, module: ModuleType, constant: str, old: str, new: str, check: str) -> Any:
    return pytest.param(Plant(module, constant, old, new, CHECKS[check]), id=name)


J, B, P = redis_journal, redis_budget, pacing_scripts

PLANTS = [
    # _CLAIM
    plant("claim: held key taken for handed back", J, "_CLAIM",
          "string.sub(current, 1, 9) == 'given-up:'", "current", "claim"),
    plant("claim: a hand-back refuses every claim", J, "_CLAIM",
          "if string.find(given, ',' .. ARGV[4] .. ',', 1, true) then return 'given-up' end",
          "return 'given-up'", "abandon"),
    plant("claim: a hand-back refuses nobody", J, "_CLAIM",
          "',' .. ARGV[4] .. ','", "',' .. ARGV[1] .. ','", "abandon"),
    plant("claim: held claimable, rejected not", J, "_CLAIM",
          "entry['state'] ~= 'rejected'", "entry['state'] == 'rejected'", "claim"),
    plant("claim: rejected not claimable", J, "_CLAIM",
          "~= 'rejected' and (", "~= 'rejected' or (", "claim"),
    plant("claim: replaces any token but the holder's", J, "_CLAIM",
          "entry['token'] ~= ARGV[2]", "entry['token'] == ARGV[2]", "claim"),
    plant("claim: lifetime in seconds", J, "_CLAIM", "'PX', ARGV[3]", "'EX', ARGV[3]", "claim"),
    plant("claim: held key overwritten", J, "_CLAIM", "    return current\n", "", "claim"),
    # _UPDATE
    plant("update: only stale tokens update", J, "_UPDATE",
          "['token'] ~= ARGV[1]", "['token'] == ARGV[1]", "update"),
    plant("update: stale token accepted", J, "_UPDATE",
          "\n    or cjson.decode(current)['token'] ~= ARGV[1] then", " then", "update"),
    plant("update: lifetime in seconds", J, "_UPDATE", "'PX', ARGV[3]", "'EX', ARGV[3]", "update"),
    plant("update: no early return", J, "_UPDATE", "  return 0\n", "", "update"),
    plant("update: success reported as refusal", J, "_UPDATE", "return 1", "return 0", "update"),
    # _ABANDON
    plant("abandon: no tombstone on an empty key", J, "_ABANDON",
          "end\nredis.call('SET', KEYS[1], mark, 'PX', ARGV[2])\nreturn 0", "end\nreturn 0",
          "abandon"),
    plant("abandon: removes other tokens' claims", J, "_ABANDON",
          "entry['token'] ~= ARGV[1] or", "entry['token'] == ARGV[1] or", "abandon"),
    plant("abandon: token and started", J, "_ABANDON",
          "ARGV[1] or entry", "ARGV[1] and entry", "abandon"),
    plant("abandon: own started claim kept", J, "_ABANDON",
          "entry['state'] ~= 'started' then return 0", "entry['state'] == 'started' then return 0",
          "abandon"),
    plant("abandon: tombstone lifetime in seconds", J, "_ABANDON",
          "    redis.call('SET', KEYS[1], mark, 'PX', ARGV[2])\n    return 1",
          "    redis.call('SET', KEYS[1], mark, 'EX', ARGV[2])\n    return 1", "abandon"),
    plant("abandon: a second hand-back forgets the first", J, "_ABANDON",
          "if #kept > 0 then mark = 'given-up:' .. kept .. ',' .. ARGV[1] end", "", "abandon"),
    # _FORGET
    plant("forget: drops tombstones too", J, "_FORGET",
          " or string.sub(current, 1, 9) == 'given-up:'", "", "abandon"),
    plant("forget: entry kept", J, "_FORGET", "redis.call('DEL', KEYS[1])\n", "", "update"),
    plant("forget: says nothing was forgotten", J, "_FORGET", "return 1", "return 0", "update"),
    # _MIGRATE (the prelude of _HOLD, _SETTLE and _TOTALS)
    plant("migrate: truncated, not rounded", B, "_MIGRATE",
          "tonumber(text) * 1000000 + 0.5", "tonumber(text) * 1000000", "migrate"),
    plant("migrate: old spent key kept", B, "_MIGRATE",
          "  redis.call('DEL', KEYS[4])\n", "", "migrate"),
    plant("migrate: spent lifetime on the old key", B, "_MIGRATE",
          "'PEXPIRE', KEYS[1], ttl", "'PEXPIRE', KEYS[4], ttl", "migrate"),
    plant("migrate: last old hold skipped", B, "_MIGRATE",
          "for i = 1, #oldholds, 2", "for i = 1, #oldholds - 2, 2", "migrate"),
    plant("migrate: holds lifetime on the old key", B, "_MIGRATE",
          "'PEXPIRE', KEYS[2], ttl", "'PEXPIRE', KEYS[5], ttl", "migrate"),
    plant("migrate: reads the new spent key", B, "_MIGRATE",
          "local old = redis.call('GET', KEYS[4])", "local old = redis.call('GET', KEYS[1])",
          "migrate"),
    # _HOLD
    plant("hold: exact fit refused", B, "_HOLD",
          "committed + amount > limit", "committed + amount >= limit", "hold"),
    plant("hold: starts on a committed budget", B, "_HOLD",
          "committed >= limit", "committed > limit", "hold"),
    plant("hold: expired holds still counted", B, "_HOLD",
          "for _, id in ipairs(expired) do redis.call('HDEL', KEYS[2], id) end\n", "", "hold"),
    plant("hold: expires holds up to the new one's end", B, "_HOLD",
          "'ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[4]", "'ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[5]",
          "hold"),
    plant("hold: exclusive always taken", B, "_HOLD",
          "ARGV[7] == '1' and", "ARGV[7] == '1' or", "hold"),
    plant("hold: expiry set kept forever", B, "_HOLD", "for i = 1, 3 do", "for i = 1, 2 do",
          "hold"),
    # _SETTLE
    plant("settle: repeated id counted again", B, "_SETTLE",
          "if redis.call('ZSCORE', KEYS[6], ARGV[4]) then return 0 end",
          "if redis.call('ZSCORE', KEYS[6], ARGV[4]) then end", "settle"),
    plant("settle: settlement id not recorded", B, "_SETTLE",
          "  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[4])\n", "", "settle"),
    plant("settle: prunes ids a day ahead", B, "_SETTLE",
          "tonumber(ARGV[5]) - 86400", "tonumber(ARGV[5]) + 86400", "settle"),
    plant("settle: hold kept", B, "_SETTLE", "redis.call('HDEL', KEYS[2], ARGV[1])\n", "",
          "settle"),
    plant("settle: negative corrections dropped", B, "_SETTLE",
          "if ARGV[2] ~= '0' then", "if ARGV[2] > '0' then", "settle"),
    plant("settle: key ttl on the holds", B, "_SETTLE",
          "redis.call('EXPIRE', KEYS[1], ttl)", "redis.call('EXPIRE', KEYS[2], ttl)", "settle"),
    # _TOTALS
    plant("totals: hold live at its expiry", B, "_TOTALS",
          "'(' .. ARGV[1], '+inf'", "ARGV[1], '+inf'", "totals"),
    plant("totals: counts expired holds", B, "_TOTALS",
          "'(' .. ARGV[1], '+inf'", "'-inf', ARGV[1]", "totals"),
    plant("totals: last hold only", B, "_TOTALS", "held = held + tonumber", "held = tonumber",
          "totals"),
    plant("totals: spent and held swapped", B, "_TOTALS",
          "return {spent, held}", "return {held, spent}", "totals"),
    plant("totals: reads the old spent key", B, "_TOTALS",
          "tonumber(redis.call('GET', KEYS[1])", "tonumber(redis.call('GET', KEYS[4])", "totals"),
    # ACQUIRE
    plant("acquire: one beyond the limit", P, "ACQUIRE",
          "limit - sent - external <= 0", "limit - sent - external < 0", "acquire"),
    plant("acquire: dropped tokens stay in flight", P, "ACQUIRE",
          "  redis.call('ZREM', inflight, ARGV[i])\n", "", "acquire"),
    plant("acquire: given-up token reserved", P, "ACQUIRE",
          "if redis.call('ZSCORE', gone, token) then return {0, 0} end",
          "if redis.call('ZSCORE', gone, token) then end", "acquire"),
    plant("acquire: leases never end", P, "ACQUIRE",
          "redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)\n", "", "acquire"),
    plant("acquire: a seeded reset is never corrected", P, "ACQUIRE",
          "  redis.call('HSET', state, 'learnt', now)\n", "", "release"),
    plant("acquire: seeded reset from remaining", P, "ACQUIRE",
          "tonumber(ARGV[9])", "tonumber(ARGV[8])", "acquire"),
    plant("acquire: polls forever when nothing is in flight", P, "ACQUIRE",
          "elseif busy > 0 then", "elseif busy >= 0 then", "acquire"),
    # RELEASE
    plant("release: slot stays in flight", P, "RELEASE",
          "redis.call('ZREM', inflight, ARGV[1])\n", "", "release"),
    plant("release: newer headers ignored", P, "RELEASE",
          "if reset and new < reset and", "if reset and new > reset and", "release"),
    plant("release: a wrong reset is never corrected", P, "RELEASE",
          " and not later then", " then", "release"),
    plant("release: any older answer corrects the window", P, "RELEASE",
          "leased - lease > (", "leased - lease <= (", "release"),
    plant("release: no margin for other clocks", P, "RELEASE", "or now) + 1", "or now)", "release"),
    plant("release: a past window corrects", P, "RELEASE", "new > now and ", "", "release"),
    plant("release: others' spending ignored", P, "RELEASE",
          "external = math.max(external,", "external = math.min(external,", "release"),
    plant("release: early server roll-over not counted", P, "RELEASE",
          "if reset and not rolled then", "if reset and rolled then", "release"),
    plant("release: straggler counted in the new window", P, "RELEASE",
          "  redis.call('HSET', state, 'limit', limit)\n  return 0\n",
          "  redis.call('HSET', state, 'limit', limit)\n", "release"),
    plant("release: counts expire before the window ends", P, "RELEASE",
          "math.max(0, reset - now)", "math.max(0, now - reset)", "release"),
]  # fmt: skip

SCRIPTS = {
    (J, "_CLAIM"),
    (J, "_UPDATE"),
    (J, "_ABANDON"),
    (J, "_FORGET"),
    (B, "_MIGRATE"),
    (B, "_HOLD"),
    (B, "_SETTLE"),
    (B, "_TOTALS"),
    (P, "ACQUIRE"),
    (P, "RELEASE"),
}


def put_in(plant: Plant, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Plant the mistake in its script (and the scripts built from it): their planted texts."""
    original: str = getattr(plant.module, plant.constant)
    assert original.count(plant.old) == 1, f"{plant.old!r} is not in the script exactly once"
    planted = original.replace(plant.old, plant.new)
    assert planted != original
    changed = {plant.constant: planted}
    for name in BUILT_FROM.get((plant.module, plant.constant), ()):
        built: str = getattr(plant.module, name)
        assert built.startswith(original)
        changed[name] = planted + built[len(original) :]
    for name, text in changed.items():
        monkeypatch.setattr(plant.module, name, text)
    # What the stores register: the scripts built from a prelude, not the prelude itself.
    return [text for name, text in changed.items() if name not in PRELUDES]


def registered_scripts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts of the scripts the stores register from now on."""
    seen: list[str] = []
    register = redis.Redis.register_script

    def recording(self: redis.Redis, script: str) -> Any:
        seen.append(script)
        return register(self, script)

    monkeypatch.setattr(redis.Redis, "register_script", recording)
    return seen


def test_every_script_has_plants() -> None:
    planted = {(p.values[0].module, p.values[0].constant) for p in PLANTS}
    assert planted == SCRIPTS
    assert len({p.id for p in PLANTS}) == len(PLANTS)


@pytest.mark.parametrize("check", CHECKS.values(), ids=CHECKS.keys())
def test_the_real_scripts_keep_their_promises(check: Check, redis_url: str) -> None:
    check(redis_url)


@pytest.mark.parametrize("plant", PLANTS)
def test_a_planted_mistake_is_caught(
    plant: Plant, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = put_in(plant, monkeypatch)
    registered = registered_scripts(monkeypatch)
    with pytest.raises(AssertionError):
        plant.check(redis_url)
    assert all(text in registered for text in planted), "the store ran the planted script"
