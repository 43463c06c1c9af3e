"""Journaled runs stopped by the user (Ctrl-C, a cancelled task) and runs waiting for their key.

A run interrupted before its request left is recorded ``rejected`` (the next run with its key
sends it); one interrupted after it may have left stays an unknown outcome. Both clients, the
emulator over sockets, a real ``SIGINT`` for the sync client and a real cancellation for the
async one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import knouds
from knouds.testing import Emulator
from tests.conftest import resolve

MODEL = "gpt-image-2"


async def interrupt(client_kind: str, call: Callable[[], Any], after: float) -> None:
    """Run ``call`` and stop it after ``after`` seconds as a user would: a ``SIGINT`` to this
    process (sync: ``KeyboardInterrupt`` in the calling thread) or a task cancellation."""
    if client_kind == "sync":
        # Python's own handler (the test runs under asyncio.run, which installs another).
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        timer = threading.Timer(after, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                call()
        finally:
            timer.cancel()
            timer.join()
            signal.signal(signal.SIGINT, previous)
        return
    task = asyncio.ensure_future(call())
    await asyncio.sleep(after)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_run_interrupted_while_pacing_is_rejected_and_sent_when_resumed(
    connect: Callable[..., Any], client_kind: str, tmp_path: Path
) -> None:
    journal = knouds.SQLiteJournal(tmp_path / "runs.sqlite")
    with Emulator(rate_limit=1, window=30) as emu:
        client = connect(emu, journal=journal)
        await resolve(client.models.run(MODEL, {"prompt": "warm-up"}, idempotency_key="warm"))

        def paced() -> Any:  # the budget is spent for 30 s: this run waits before sending
            return client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="fox")

        await interrupt(client_kind, paced, 0.3)
        entry = journal.get("fox")
        assert entry is not None
        assert entry.state == "rejected"
        assert "before the request was sent" in str(entry.error)
        assert emu.run_count() == 1  # only the warm-up left the machine

        emu.reset_rate_limits()
        fresh = connect(emu, journal=journal)  # knows no spent budget: sends at once
        result = await resolve(fresh.models.run(MODEL, {"prompt": "fox"}, idempotency_key="fox"))
        assert not result.from_journal
        assert emu.run_count() == 2
    journal.close()


async def test_a_run_interrupted_after_sending_stays_an_unknown_outcome(
    connect: Callable[..., Any], client_kind: str, tmp_path: Path
) -> None:
    journal = knouds.SQLiteJournal(tmp_path / "runs.sqlite")
    with Emulator(run_delay=1.5) as emu:
        client = connect(emu, journal=journal)

        def slow() -> Any:
            return client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="fox")

        await interrupt(client_kind, slow, 0.4)
        entry = journal.get("fox")
        assert entry is not None
        assert entry.state == "unknown"
        assert "may have been sent" in str(entry.error)
        with pytest.raises(knouds.UnknownOutcomeError):
            await resolve(client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="fox"))
        assert [e.path for e in emu.log if e.path.startswith("/api/models/")] == [
            f"/api/models/{MODEL}/run"
        ]
    journal.close()


async def test_a_run_interrupted_while_waiting_for_a_pooled_connection_is_rejected(
    connect: Callable[..., Any], client_kind: str, tmp_path: Path
) -> None:
    journal = knouds.SQLiteJournal(tmp_path / "runs.sqlite")
    limits = httpx.Limits(max_connections=1)
    pool: Any = httpx.Client(limits=limits) if client_kind == "sync" else None
    pool = pool or httpx.AsyncClient(limits=limits)
    with Emulator(run_delay=0.8) as emu, ThreadPoolExecutor(1) as threads:
        client = connect(emu, journal=journal, http_client=pool)

        def run(prompt: str) -> Any:
            return client.models.run(MODEL, {"prompt": prompt}, idempotency_key=prompt)

        # The holder takes the only connection; the interrupted run waits for it.
        holder: Any = threads.submit(run, "holder") if client_kind == "sync" else None
        holder = holder or asyncio.ensure_future(run("holder"))
        await asyncio.sleep(0.2)
        await interrupt(client_kind, lambda: run("fox"), 0.2)

        entry = journal.get("fox")
        assert entry is not None
        assert entry.state == "rejected"
        assert (holder.result() if client_kind == "sync" else await holder).success
        assert emu.run_count() == 1
    if client_kind == "sync":
        pool.close()
    else:
        await pool.aclose()
    journal.close()


async def in_background(
    client_kind: str, threads: ThreadPoolExecutor, call: Callable[[], Any]
) -> Any:
    """Start ``call`` in another thread (sync) or task (async); returns how to await its end."""
    if client_kind == "sync":
        future = threads.submit(call)
        return lambda: future.result()
    task = asyncio.ensure_future(call())
    return lambda: task


async def test_a_caller_waiting_for_a_key_in_flight_elsewhere_gives_up_at_its_deadline(
    connect: Callable[..., Any], client_kind: str, tmp_path: Path
) -> None:
    journal = knouds.SQLiteJournal(tmp_path / "runs.sqlite")
    with Emulator(run_delay=3.0) as emu, ThreadPoolExecutor(1) as threads:
        client = connect(emu, journal=journal)

        def run(**options: Any) -> Any:
            return client.models.run(MODEL, {"prompt": "fox"}, idempotency_key="k", **options)

        first = await in_background(client_kind, threads, run)
        await asyncio.sleep(0.2)  # the first run is in flight
        began = time.monotonic()
        with pytest.raises(knouds.IdempotencyConflictError, match="in flight") as caught:
            await resolve(run(retry=knouds.RetryPolicy(deadline=0.3)))
        waited = time.monotonic() - began

        assert 0.25 <= waited < 2.0  # its deadline, not the 2.8 s the other run still takes
        assert caught.value.key == "k"
        assert (await resolve(first())).success
        assert emu.run_count() == 1
    journal.close()


async def test_a_caller_waiting_on_a_submitted_execution_gives_up_at_its_deadline(
    connect: Callable[..., Any], client_kind: str, tmp_path: Path
) -> None:
    journal = knouds.SQLiteJournal(tmp_path / "runs.sqlite")
    with Emulator(execution_delay=5.0) as emu:
        client = connect(emu, journal=journal)
        submitted = await resolve(
            client.models.submit(MODEL, {"prompt": "fox"}, idempotency_key="k")
        )
        began = time.monotonic()
        with pytest.raises(knouds.ExecutionTimeoutError):
            await resolve(
                client.models.run(
                    MODEL,
                    {"prompt": "fox"},
                    idempotency_key="k",
                    retry=knouds.RetryPolicy(deadline=0.4),
                )
            )
        waited = time.monotonic() - began

        assert waited < 3.0  # not the execution's 5 s
        entry = journal.get("k")
        assert entry is not None
        assert (entry.state, entry.execution_id) == ("submitted", submitted.id)
        assert emu.run_count() == 1
    journal.close()
