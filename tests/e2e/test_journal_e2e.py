"""The run journal end to end: both clients, the emulator over sockets, SQLite and Redis.

The emulator's request log is the proof: ``emu.run_count()`` counts runs it executed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import knouds
from knouds.testing import Emulator, Fault
from tests.conftest import resolve
from tests.e2e.conftest import prompt_of

MODEL = "gpt-image-2"  # 4 credits a run, async supported


@pytest.fixture(params=["sqlite", "redis"])
def journal_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A journal location of each backend."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return str(tmp_path / "runs.sqlite")


@pytest.fixture
def journal_path(tmp_path: Path) -> str:
    return str(tmp_path / "runs.sqlite")


def prompts(n: int, prefix: str = "prompt") -> list[dict[str, str]]:
    return [{"prompt": f"{prefix} {i}"} for i in range(n)]


def executed(emu: Emulator) -> Counter[str]:
    """How often the emulator executed each prompt."""
    return Counter(prompt_of(e.body) for e in emu.log if e.run is not None)


async def test_idempotency_key_returns_the_stored_result_and_sends_nothing(
    emu: Emulator, connect: Callable[..., Any], journal_spec: str
) -> None:
    client = connect(emu, journal=journal_spec)

    first = await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="order-1"))
    requests = len(emu.log)
    again = await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="order-1"))

    assert len(emu.log) == requests  # nothing sent
    assert emu.run_count() == 1
    assert again.from_journal
    assert not first.from_journal
    assert again.images[0].url == first.images[0].url
    assert again.cost == first.cost == 4
    entry = client.journal.get("order-1")
    assert entry.state == "completed"
    assert entry.target == "models/gpt-image-2"


async def test_a_key_reused_for_other_inputs_is_refused_before_sending(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    client = connect(emu, journal=journal_path)
    await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="order-2"))

    with pytest.raises(knouds.IdempotencyConflictError) as caught:
        await resolve(client.models.run(MODEL, {"prompt": "owl"}, idempotency_key="order-2"))
    with pytest.raises(knouds.IdempotencyConflictError):
        await resolve(
            client.workflows.run(
                "my-thumbnail-pipeline", {"prompt": "fox"}, idempotency_key="order-2"
            )
        )

    assert caught.value.key == "order-2"
    assert emu.run_count() == 1


async def test_an_idempotency_key_needs_a_journal(
    emu: Emulator, connect: Callable[..., Any]
) -> None:
    client = connect(emu)

    with pytest.raises(knouds.ConfigurationError, match="journal"):
        await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))

    assert emu.log == []


async def test_without_a_key_a_journaled_run_is_keyed_by_its_inputs(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    client = connect(emu, journal=journal_path)

    await resolve(client.models.run(MODEL, {"prompt": "fox", "aspect_ratio": "1:1"}))
    again = await resolve(client.models.run(MODEL, {"aspect_ratio": "1:1", "prompt": "fox"}))
    other = await resolve(client.models.run(MODEL, {"prompt": "owl"}))

    assert again.from_journal
    assert not other.from_journal
    assert emu.run_count() == 2


async def test_a_submission_with_a_key_is_not_submitted_twice_and_run_waits_on_it(
    emu: Emulator, connect: Callable[..., Any], journal_spec: str
) -> None:
    client = connect(emu, journal=journal_spec)

    execution = await resolve(
        client.models.submit(MODEL, {"prompt": "waves"}, idempotency_key="job-7")
    )
    same = await resolve(client.models.submit(MODEL, {"prompt": "waves"}, idempotency_key="job-7"))
    assert same.id == execution.id
    assert client.journal.get("job-7").execution_id == execution.id
    await asyncio.sleep(0.06)  # the emulator finishes executions after 50 ms
    result = await resolve(client.models.run(MODEL, {"prompt": "waves"}, idempotency_key="job-7"))

    assert isinstance(result, knouds.RunResult)
    assert client.journal.get("job-7").state == "completed"
    assert emu.run_count() == 1


async def test_resumed_batch_sends_only_what_did_not_run(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    client = connect(emu)
    emu.set_balance(emu.api_key, 4 * 5)  # five runs, then 402: those prove nothing ran
    batch = prompts(8)

    first = await resolve(client.models.run_many(MODEL, batch, journal=journal_path, concurrency=1))
    assert [type(o).__name__ for o in first] == ["RunResult"] * 5 + ["InsufficientCreditsError"] * 3

    emu.set_balance(emu.api_key, 1000)
    second = await resolve(client.models.run_many(MODEL, batch, journal=journal_path))

    assert all(isinstance(o, knouds.RunResult) for o in second)
    assert [o.from_journal for o in second] == [True] * 5 + [False] * 3
    assert executed(emu) == Counter(f"prompt {i}" for i in range(8))  # each exactly once


async def test_a_batch_stopped_before_sending_is_sent_when_resumed(
    emu: Emulator,
    connect: Callable[..., Any],
    make_client: Callable[..., Any],
    client_kind: str,
    journal_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KNOUDS_API_KEY", raising=False)
    keyless = make_client(
        None,
        api_key=None,
        base_url=emu.base_url,
        clock=time.time,
        sleep=time.sleep if client_kind == "sync" else asyncio.sleep,
    )
    batch = prompts(3)

    first = await resolve(keyless.models.run_many(MODEL, batch, journal=journal_path))
    assert all(isinstance(o, knouds.ConfigurationError) for o in first)
    assert emu.log == []  # nothing left the machine: nothing can have run

    second = await resolve(connect(emu).models.run_many(MODEL, batch, journal=journal_path))

    assert all(isinstance(o, knouds.RunResult) for o in second)
    assert executed(emu) == Counter(f"prompt {i}" for i in range(3))


async def test_one_journal_never_answers_a_server_with_another_servers_runs(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    batch = prompts(3)
    with Emulator() as rehearsal:  # a dry run against a local server first, then the real one
        rehearsing = connect(rehearsal, journal=journal_path)
        await resolve(rehearsing.models.run_many(MODEL, batch))
        await resolve(rehearsing.models.run(MODEL, {"prompt": "x"}, idempotency_key="order-1"))
        await resolve(rehearsing.close())
    client = connect(emu, journal=journal_path)

    outcomes = await resolve(client.models.run_many(MODEL, batch))
    with pytest.raises(knouds.IdempotencyConflictError, match="another server"):
        await resolve(client.models.run(MODEL, {"prompt": "x"}, idempotency_key="order-1"))

    assert not any(o.from_journal for o in outcomes)
    assert executed(emu) == Counter(f"prompt {i}" for i in range(3))


async def test_an_input_that_cannot_be_sent_fails_its_own_slot_in_a_journaled_batch(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    batch: list[Any] = [{"prompt": "ok"}, {"prompt": b"bytes"}, {1: "a", "b": 2}]

    outcomes = await resolve(connect(emu).models.run_many(MODEL, batch, journal=journal_path))

    assert isinstance(outcomes[0], knouds.RunResult)
    assert all(isinstance(o, knouds.InvalidInputsError) for o in outcomes[1:])
    assert emu.run_count() == 1


async def test_an_error_body_echoing_the_api_key_is_stored_without_it(
    emu: Emulator, connect: Callable[..., Any], journal_spec: str
) -> None:
    """A proxy or debug page may echo the request's headers; the journal is a file or a shared
    Redis, where the key must never land."""
    echo = {"error": "Bad gateway", "request": {"headers": {"x-api-key": emu.api_key}}}
    emu.inject(Fault.status(502, body=echo), times=1, path="/api/models")
    client = connect(emu, journal=journal_spec)

    with pytest.raises(knouds.InternalServerError):
        await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))
    entry = client.journal.get("k")

    assert entry.state == "unknown"
    assert entry.error["body"]["request"]["headers"]["x-api-key"] == "***"
    assert emu.api_key not in entry.to_json()
    if not journal_spec.startswith("redis"):
        assert emu.api_key.encode() not in _stored_bytes(journal_spec)


async def test_repeated_inputs_in_a_batch_are_separate_runs(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    client = connect(emu)
    batch = [{"prompt": "same"}] * 3 + [{"prompt": "other"}]

    await resolve(client.models.run_many(MODEL, batch, journal=journal_path))
    again = await resolve(client.models.run_many(MODEL, batch, journal=journal_path))

    assert executed(emu) == Counter({"same": 3, "other": 1})
    assert all(o.from_journal for o in again)


async def test_unknown_outcome_is_reported_not_resent_until_asked(
    emu: Emulator, connect: Callable[..., Any], journal_spec: str
) -> None:
    client = connect(emu)
    batch = prompts(3)
    emu.inject(Fault.html(502), times=1, path="/api/models")  # after sending: outcome unknown

    first = await resolve(client.models.run_many(MODEL, batch, journal=journal_spec, concurrency=1))
    assert isinstance(first[0], knouds.InternalServerError)
    runs = len([e for e in emu.log if e.path.endswith("/run")])

    second = await resolve(client.models.run_many(MODEL, batch, journal=journal_spec))
    assert isinstance(second[0], knouds.UnknownOutcomeError)
    assert "resend_unknown=True" in str(second[0])
    assert "502" in str(second[0])
    assert second[0].entry.state == "unknown"
    assert len([e for e in emu.log if e.path.endswith("/run")]) == runs  # nothing re-sent

    third = await resolve(
        client.models.run_many(MODEL, batch, journal=journal_spec, resend_unknown=True)
    )
    assert all(isinstance(o, knouds.RunResult) for o in third)
    assert [o.from_journal for o in third] == [False, True, True]


async def test_a_run_whose_process_died_is_unknown_and_can_be_settled_by_hand(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    journal = knouds.SQLiteJournal(journal_path)
    inputs = {"prompt": "lost"}
    client = connect(emu, journal=journal)
    # What a process killed mid-run leaves behind: a claim by a process that no longer exists.
    journal.claim("order-9", "models/gpt-image-2", _digest(client, inputs), "dead-token", None)
    _reown(journal, "order-9", pid=_dead_pid())

    with pytest.raises(knouds.UnknownOutcomeError) as caught:
        await resolve(client.models.run(MODEL, inputs, idempotency_key="order-9"))
    assert "never recorded how it ended" in str(caught.value)
    assert journal.mark_failed("order-9", "ran on 2026-11-30; result in the dashboard")
    with pytest.raises(knouds.KnoudsError, match="result in the dashboard"):
        await resolve(client.models.run(MODEL, inputs, idempotency_key="order-9"))
    assert emu.run_count() == 0

    assert journal.forget("order-9")
    result = await resolve(client.models.run(MODEL, inputs, idempotency_key="order-9"))
    assert isinstance(result, knouds.RunResult)
    assert emu.run_count() == 1


async def test_a_failed_execution_is_not_sent_again(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    emu.add_model("flaky-image", "image", fail=("PROVIDER_DOWN", "The provider failed"))
    client = connect(emu, journal=journal_path)

    for _ in range(2):
        with pytest.raises(knouds.ExecutionFailedError, match="provider failed"):
            await resolve(client.models.run("flaky-image", {"prompt": "x"}))

    assert emu.run_count() == 1
    assert client.journal.entries("failed")[0].error["code"] == "EXECUTION_FAILED"


async def test_submitted_batch_resumes_on_the_stored_executions(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    client = connect(emu)
    batch = prompts(6)
    book = knouds.SQLiteJournal(journal_path)

    # Submit half of them as a crashed batch would have: submitted, never waited for.
    for inputs in batch[:3]:
        execution = await resolve(client.models.submit(MODEL, inputs))
        key = _batch_key(client, inputs)
        claim = book.claim(key, "models/gpt-image-2", _digest(client, inputs), "t-" + key, None)
        assert book.record(claim.entry, state="submitted", execution_id=execution.id)

    outcomes = await resolve(
        client.models.run_many(MODEL, batch, journal=book, submit=True, poll_interval=0.02)
    )

    assert all(isinstance(o, knouds.RunResult) for o in outcomes)
    assert executed(emu) == Counter(f"prompt {i}" for i in range(6))
    assert {e.state for e in book.entries()} == {"completed"}
    book.close()


async def test_keys_expire_after_the_journal_ttl(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    now = [1_800_000_000.0]
    journal = knouds.SQLiteJournal(journal_path, ttl=60, clock=lambda: now[0])
    client = connect(emu, journal=journal)

    await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))
    now[0] += 59
    assert (
        await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))
    ).from_journal
    now[0] += 61  # 60 s after the last write
    assert journal.get("k") is None
    await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))

    assert emu.run_count() == 2


async def test_a_key_in_flight_is_waited_for_by_other_callers(
    connect: Callable[..., Any], client_kind: str, journal_spec: str
) -> None:
    with Emulator(run_delay=0.2) as emu:
        client = connect(emu, journal=journal_spec)

        def call() -> Any:
            return client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="shared")

        if client_kind == "sync":
            with ThreadPoolExecutor(6) as pool:
                results = list(pool.map(lambda _: call(), range(6)))
        else:
            results = await asyncio.gather(*(call() for _ in range(6)))

        assert emu.run_count() == 1
        assert len({r.images[0].url for r in results}) == 1
        assert sum(not r.from_journal for r in results) == 1


_BUSY = """
local start = redis.call('TIME')
while true do
  local now = redis.call('TIME')
  if (now[1] - start[1]) * 1000000 + (now[2] - start[2]) >= tonumber(ARGV[1]) then return 1 end
end
"""


@pytest.mark.parametrize("client_kind", ["async"], indirect=True)
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_a_slow_journal_write_does_not_stall_the_event_loop(
    emu: Emulator,
    connect: Callable[..., Any],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
) -> None:
    """A journal write can wait (the file locked by another process's write, a busy Redis):
    the async client keeps serving its other tasks meanwhile."""
    other: Any  # a sqlite3 connection or a Redis client, holding the store busy
    busy: threading.Thread
    if backend == "sqlite":
        path = tmp_path / "runs.sqlite"
        journal: knouds.Journal = knouds.SQLiteJournal(path, durable=False)
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process writing: the claim waits for it
        busy = threading.Timer(0.6, lambda: other.execute("COMMIT"))
    else:
        import redis

        url = request.getfixturevalue("redis_url")
        journal = knouds.RedisJournal(url)
        other = redis.Redis.from_url(url)
        busy = threading.Thread(target=lambda: other.eval(_BUSY, 0, 600_000))  # 0.6 s busy
    client = connect(emu, journal=journal)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.ensure_future(ticker())
    busy.start()
    await asyncio.sleep(0.05)  # the store is busy before the run starts
    ticks = 0
    try:
        await client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k")
    finally:
        beat.cancel()
        busy.join()
        other.close()
        journal.close()
    assert emu.run_count() == 1
    assert ticks >= 20  # the loop kept ticking through the wait (about 55 ticks of 10 ms)


async def test_a_claim_applied_twice_by_a_retried_command_is_still_ours(
    emu: Emulator, connect: Callable[..., Any], journal_spec: str
) -> None:
    """A store client that retries a command after a timeout (redis-py does by default) may
    apply the claim twice: the second answer shows the caller's own claim, which is no reason
    to report an unknown outcome."""
    base = knouds.RedisJournal if journal_spec.startswith("redis") else knouds.SQLiteJournal

    class Retried(base):  # type: ignore[valid-type,misc]
        def _claim(self, entry: Any, replace_token: Any, now: float) -> Any:
            super()._claim(entry, replace_token, now)  # applied, and its answer lost
            return super()._claim(entry, replace_token, now)

    journal = Retried(journal_spec)
    client = connect(emu, journal=journal)
    try:
        result = await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))
        entry = journal.get("k")
    finally:
        journal.close()

    assert not result.from_journal
    assert entry is not None
    assert entry.state == "completed"
    assert emu.run_count() == 1


async def test_a_run_of_this_process_is_in_flight_however_long_it_takes(
    connect: Callable[..., Any], client_kind: str, tmp_path: Path
) -> None:
    """``stale_after`` guesses about other processes; this process knows its own runs."""
    journal = knouds.SQLiteJournal(tmp_path / "runs.sqlite", stale_after=0.05)
    with Emulator(run_delay=0.4) as emu:
        client = connect(emu, journal=journal)

        def call() -> Any:
            return client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="slow")

        if client_kind == "sync":
            with ThreadPoolExecutor(2) as pool:
                first = pool.submit(call)
                threading.Event().wait(0.2)  # the first run is in flight, past stale_after
                second = pool.submit(call)
                results = [first.result(), second.result()]
        else:
            first = asyncio.ensure_future(call())
            await asyncio.sleep(0.2)
            results = [await call(), await first]

        assert emu.run_count() == 1
        assert len({r.images[0].url for r in results}) == 1
    journal.close()


async def test_an_end_that_cannot_be_recorded_because_the_claim_was_taken_is_logged(
    connect: Callable[..., Any],
    client_kind: str,
    journal_path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = knouds.SQLiteJournal(journal_path)
    with Emulator(run_delay=0.3) as emu:
        client = connect(emu, journal=journal)
        # Someone forgets the key while its run is in flight (and might send it again).
        dropper = threading.Timer(0.1, journal.forget, ("k",))
        dropper.start()
        with caplog.at_level("WARNING", logger="knouds"):
            result = await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))
        dropper.join()

    assert not result.from_journal  # the caller still gets its result
    assert journal.get("k") is None
    assert any("'k'" in r.getMessage() and "taken over" in r.getMessage() for r in caplog.records)
    journal.close()


async def test_with_options_copies_share_the_journal(
    emu: Emulator, connect: Callable[..., Any], journal_path: str
) -> None:
    client = connect(emu, journal=journal_path)
    copy = client.with_options(max_retries=0)

    await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))
    result = await resolve(copy.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k"))
    await resolve(copy.close())

    assert result.from_journal
    assert copy.journal is client.journal
    assert client.journal.get("k") is not None  # closing the copy left the journal usable


# -- helpers ------------------------------------------------------------------------------------


def _digest(client: Any, inputs: dict[str, Any]) -> str:
    """The inputs hash the client's account gives a run of ``inputs``."""
    digest: str = client._journal_keys().digest("models/gpt-image-2", inputs)
    return digest


def _batch_key(client: Any, inputs: dict[str, Any]) -> str:
    """The journal key the client's account gives the first batch input ``inputs``."""
    tagged = client._journal_keys().tag_batch("models/gpt-image-2", [inputs])
    key: str = tagged[0].journal_key
    return key


def _stored_bytes(path: str) -> bytes:
    """A SQLite journal's bytes on disk: the database and its write-ahead log."""
    files = [Path(path), Path(path + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _reown(journal: knouds.SQLiteJournal, key: str, *, pid: int) -> None:
    import dataclasses
    import socket

    entry = journal.get(key)
    assert entry is not None
    owner = f"{socket.gethostname()}/{pid}/deadbeef"
    assert journal._update(key, entry.token, dataclasses.replace(entry, owner=owner))
