"""The run journal's pure parts: keys, what an error says about a run, stored errors, entries,
and the SQLite backend's claim rules (the end-to-end behaviour is in tests/e2e)."""

from __future__ import annotations

import pickle
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import knouds
from knouds._core.attempt import Dispatch, Send
from knouds._core.journal import (
    JournalEntry,
    batch_keys,
    default_key,
    describe_error,
    rebuild_error,
)
from knouds._core.responses import map_transport_error, may_have_been_sent
from knouds._stores.journal import open_journal


def test_default_keys_ignore_key_order_and_differ_by_target() -> None:
    a = default_key("models/gpt-image-2", {"prompt": "fox", "n": 1})
    assert a == default_key("models/gpt-image-2", {"n": 1, "prompt": "fox"})
    assert a != default_key("workflows/gpt-image-2", {"prompt": "fox", "n": 1})
    assert a.startswith("models/gpt-image-2:")


def test_batch_keys_count_repeated_inputs_and_are_stable() -> None:
    inputs = [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "a"}, {"prompt": "a"}]
    keys = batch_keys("models/m", inputs)

    assert len(set(keys)) == 4
    assert [k.rsplit("#", 1)[1] for k in keys] == ["0", "0", "1", "2"]
    assert keys == batch_keys("models/m", [dict(i) for i in inputs])


_REQUEST = httpx.Request("POST", "https://knouds.ai/api/models/m/run")


def _answer(status: int) -> httpx.Response:
    return httpx.Response(status, request=_REQUEST)


@pytest.mark.parametrize(
    ("attempts", "error", "verdict"),
    [
        ([], knouds.BudgetExceededError("spent", limit=1, spent=1, requested=1), "rejected"),
        ([], knouds.ConfigurationError("no API key"), "rejected"),
        ([], knouds.RateLimitStoreError("store down"), "rejected"),
        ([], KeyboardInterrupt(), "rejected"),  # interrupted while pacing: nothing sent
        ([_answer(402)], knouds.InsufficientCreditsError("no", status_code=402), "rejected"),
        ([_answer(429)], knouds.RateLimitError("slow down", status_code=429), "rejected"),
        ([_answer(429)], KeyboardInterrupt(), "rejected"),  # refused, then interrupted
        ([_answer(404)], knouds.NotFoundError("gone", status_code=404), "rejected"),
        ([httpx.ConnectError("refused")], knouds.APIConnectionError("refused"), "rejected"),
        ([httpx.ReadTimeout("slow")], knouds.APITimeoutError("read timeout"), "unknown"),
        ([_answer(408)], knouds.APIStatusError("timeout", status_code=408), "unknown"),
        ([_answer(502)], knouds.InternalServerError("bad gateway", status_code=502), "unknown"),
        ([_answer(200)], knouds.APIResponseValidationError("garbled"), "unknown"),
        ([_answer(429), _answer(502)], RuntimeError("planted"), "unknown"),
        ([_answer(500)], knouds.ExecutionFailedError("provider down", status_code=500), "failed"),
        ([], knouds.ExecutionCancelledError("cancelled"), "failed"),
        ([httpx.PoolTimeout("pool")], knouds.APITimeoutError("pool"), "rejected"),
        ([httpx.ReadError("reset")], knouds.APIConnectionError("reset"), "unknown"),
    ],
)
def test_the_verdict_on_a_run_follows_what_its_attempts_met(
    attempts: list[object], error: BaseException, verdict: str
) -> None:
    dispatch = Dispatch()
    for outcome in attempts:
        dispatch.in_hand = Send(_REQUEST)
        dispatch.attempted(outcome)
    assert dispatch.verdict(error) == verdict


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("connect"),
        httpx.PoolTimeout("pool"),
        httpx.UnsupportedProtocol("ftp"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("garbage"),
        knouds.APIConnectionError("closed in flight"),
    ],
)
def test_the_verdict_and_the_raised_error_agree_on_whether_a_failed_send_left(
    error: Exception,
) -> None:
    assert may_have_been_sent(error) == map_transport_error(error, _REQUEST).sent


@pytest.mark.parametrize(("sending", "verdict"), [(False, "rejected"), (True, "unknown")])
def test_an_interrupt_mid_send_is_judged_by_how_far_the_request_got(
    sending: bool, verdict: str
) -> None:
    dispatch = Dispatch()
    send = Send(_REQUEST)
    send.progress.started = True  # the shell began the exchange
    send.progress.traced = True  # the pool reports every step of the exchange
    send.progress.sending = sending
    dispatch.in_hand = send
    assert dispatch.verdict(KeyboardInterrupt()) == verdict


def test_an_untraced_transport_interrupted_mid_send_leaves_the_outcome_open() -> None:
    dispatch = Dispatch()
    send = Send(_REQUEST)
    send.progress.started = True  # a transport that reports no progress (aiohttp, a mock)
    dispatch.in_hand = send
    assert dispatch.verdict(KeyboardInterrupt()) == "unknown"


def test_an_interrupt_before_the_shell_took_the_send_proves_nothing_was_sent() -> None:
    dispatch = Dispatch()
    dispatch.in_hand = Send(_REQUEST)  # yielded, but the driver threw the interrupt instead
    assert dispatch.verdict(KeyboardInterrupt()) == "rejected"


def test_a_stored_error_is_rebuilt_as_its_class() -> None:
    response = httpx.Response(402, request=httpx.Request("POST", "https://knouds.ai/x"))
    original = knouds.InsufficientCreditsError(
        "Insufficient credits", status_code=402, code="INSUFFICIENT_CREDITS", response=response
    )

    rebuilt = rebuild_error(describe_error(original))

    assert type(rebuilt) is knouds.InsufficientCreditsError
    assert (rebuilt.status_code, rebuilt.code) == (402, "INSUFFICIENT_CREDITS")
    assert str(rebuilt) == str(original)
    assert type(rebuild_error({"type": "NoSuchError", "message": "m"})) is knouds.KnoudsError


def test_journal_errors_survive_pickle() -> None:
    error = knouds.UnknownOutcomeError("may have run", key="order-1", entry=None)
    conflict = knouds.IdempotencyConflictError("reused", key="order-2")

    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.key, str(again)) == (
        knouds.UnknownOutcomeError,
        "order-1",
        str(error),
    )
    assert pickle.loads(pickle.dumps(conflict)).key == "order-2"
    assert issubclass(knouds.UnknownOutcomeError, knouds.JournalError)
    assert issubclass(knouds.JournalError, knouds.KnoudsError)


def test_entries_round_trip_through_json_and_ignore_unknown_fields() -> None:
    entry = JournalEntry("k", "completed", "models/m", "h", "host/1/n", "t", 1.0, 2.0, 3.0)
    text = entry.to_json()[:-1] + ',"added_later":1}'

    assert JournalEntry.from_json(text) == entry
    assert entry.finished


def test_sqlite_claims_are_exclusive_until_rejected_or_expired(tmp_path: Path) -> None:
    now = [1000.0]
    journal = knouds.SQLiteJournal(tmp_path / "j.sqlite", ttl=10, clock=lambda: now[0])

    first = journal.claim("k", "models/m", "h", "t1", None)
    second = journal.claim("k", "models/m", "h", "t2", None)
    assert first.claimed
    assert not second.claimed
    assert second.entry.token == "t1"
    assert journal.record(first.entry, state="rejected", error={"message": "402"})
    assert journal.claim("k", "models/m", "h", "t3", None).claimed  # nothing ran: claim again
    assert not journal.record(first.entry, state="completed")  # t1 no longer holds the key
    now[0] += 11
    assert journal.claim("k", "models/m", "h", "t4", None).claimed  # expired
    assert journal.claim("k", "models/m", "h", "t5", "t4").claimed  # replaced on purpose
    journal.close()


def test_sqlite_journal_uses_wal_and_reopens_after_close(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = open_journal(str(path))
    assert isinstance(journal, knouds.SQLiteJournal)
    assert journal.owned
    journal.claim("k", "models/m", "h", "t", None)
    journal.close()

    assert journal.get("k") is not None  # a closed journal reconnects on use
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert open_journal(journal) is journal


def test_an_unusable_journal_is_a_journal_error(tmp_path: Path) -> None:
    with pytest.raises(knouds.JournalError, match="run journal failed"):
        knouds.SQLiteJournal(tmp_path / "no-such-dir" / "j.sqlite")


def test_a_redis_url_opens_a_redis_journal(redis_url: str) -> None:
    journal = open_journal(redis_url)
    try:
        assert isinstance(journal, knouds.RedisJournal)
        assert journal.claim("k", "models/m", "h", "t", None).claimed
        assert [e.key for e in journal.entries()] == ["k"]
        assert journal.forget("k")
        assert journal.entries() == []
    finally:
        journal.close()


def test_who_may_still_be_running_a_started_run(tmp_path: Path) -> None:
    journal = knouds.SQLiteJournal(tmp_path / "j.sqlite", stale_after=100)
    host = socket.gethostname()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:

        def started(owner: str, at: float = 1000.0) -> JournalEntry:
            return JournalEntry("k", "started", "models/m", "h", owner, "t", at, at, at + 10)

        assert journal.is_alive(started(f"{host}/{sleeper.pid}/n"), 1001.0)
        assert not journal.is_alive(started(f"{host}/{sleeper.pid}/n"), 1100.0)  # stale
        assert journal.is_alive(started("elsewhere/1/n"), 1099.0)  # other machines: by age
        assert not journal.is_alive(started("elsewhere/1/n"), 1100.0)
        sleeper.kill()  # killed, and not reaped (no wait() yet): a zombie runs nothing
        deadline = time.monotonic() + 10
        while journal.is_alive(started(f"{host}/{sleeper.pid}/n"), 1001.0):
            assert time.monotonic() < deadline, "a zombie counted as running"
            time.sleep(0.01)
        assert sleeper.returncode is None  # still unreaped when it was judged dead
    finally:
        sleeper.kill()
        sleeper.wait()
        journal.close()


def test_a_redis_client_opens_a_redis_journal_and_other_objects_are_refused(
    redis_url: str,
) -> None:
    import redis

    with redis.Redis.from_url(redis_url) as connection:
        journal = open_journal(connection)
        assert isinstance(journal, knouds.RedisJournal)
        assert not journal.owned  # the caller's connection: the caller closes it
        assert journal.claim("k", "models/m", "h", "t", None).claimed
    with pytest.raises(knouds.ConfigurationError, match=r"redis:// or rediss:// URL or a redis-py"):
        open_journal(42)  # type: ignore[arg-type]
