"""Crash safety of the run journal: real child processes, SIGKILLed at random points, resumed.

Each child (``tests/_support/journal_child.py``) runs a journaled batch against the emulator in
this process; the emulator's request log proves that no input ever executed twice. The random
kill points come from a seed shown with any failure.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

import knouds
from knouds.testing import Emulator
from tests._support.journal_child import Child, Job
from tests.e2e.conftest import prompt_of

KILLS = 3


def executed(emu: Emulator) -> Counter[str]:
    """How often the emulator executed each prompt."""
    return Counter(prompt_of(e.body) for e in emu.log if e.run is not None)


@pytest.mark.parametrize("submit", [False, True], ids=["run", "submit"])
def test_a_batch_killed_at_random_points_never_runs_an_input_twice(
    client_kind: str, submit: bool, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    journal = str(tmp_path / "batch.sqlite")

    with Emulator(run_delay=0.05, execution_delay=0.05) as emu:
        job = Job(client_kind, emu.base_url, emu.api_key, journal, 12, 3, submit)
        for _ in range(KILLS):
            child = Child(job)
            child.wait_ready()
            time.sleep(rng.uniform(0.0, 0.3))
            child.kill()
        outcomes = Child(job).result()
        counts = executed(emu)

    note = f"(kill points from seed {seed})"
    assert all(n == 1 for n in counts.values()), (counts, note)  # never twice
    statuses = Counter(o["status"] for o in outcomes)
    assert set(statuses) <= {"completed", "unknown"}, (outcomes, note)
    for outcome in outcomes:
        if outcome["status"] == "completed":
            assert counts[f"prompt {outcome['index']}"] == 1, note
    # A kill leaves at most the runs in flight at that moment unknown.
    assert statuses["unknown"] <= KILLS * 3, note
    with knouds.SQLiteJournal(journal) as book:
        assert len(book.entries("completed")) == statuses["completed"]


def test_a_submitted_batch_killed_while_waiting_resumes_with_no_unknown_outcome(
    client_kind: str, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    journal = str(tmp_path / "batch.sqlite")

    with Emulator(execution_delay=0.5) as emu, knouds.SQLiteJournal(journal) as book:
        job = Job(client_kind, emu.base_url, emu.api_key, journal, 8, 8, submit=True)
        child = Child(job)
        child.wait_ready()
        deadline = time.monotonic() + 20
        while len(book.entries("submitted")) + len(book.entries("completed")) < 8:
            assert time.monotonic() < deadline, book.entries()
            time.sleep(0.01)
        time.sleep(random.Random(seed).uniform(0.0, 0.3))  # somewhere in the wait
        child.kill()
        outcomes = Child(job).result()
        counts = executed(emu)

    assert [o["status"] for o in outcomes] == ["completed"] * 8, seed
    assert counts == Counter(f"prompt {i}" for i in range(8)), seed  # each exactly once


def test_two_processes_sharing_one_journal_run_each_input_once(tmp_path: Path) -> None:
    journal = str(tmp_path / "shared.sqlite")

    with Emulator(run_delay=0.05) as emu:
        jobs = [Job(kind, emu.base_url, emu.api_key, journal, 10, 3) for kind in ("sync", "async")]
        children = [Child(job) for job in jobs]
        results = [child.result() for child in children]
        counts = executed(emu)

    assert counts == Counter(f"prompt {i}" for i in range(10))
    for outcomes in results:  # each process got every result: its own or the other's
        assert [o["status"] for o in outcomes] == ["completed"] * 10
    assert [o["url"] for o in results[0]] == [o["url"] for o in results[1]]


def test_one_idempotency_key_in_several_processes_runs_once(tmp_path: Path) -> None:
    journal = str(tmp_path / "keys.sqlite")

    with Emulator(run_delay=0.3) as emu:
        children = [
            Child(Job(kind, emu.base_url, emu.api_key, journal, key="order-1234"))
            for kind in ("sync", "async", "sync", "async")
        ]
        urls = [child.result() for child in children]

    assert emu.run_count() == 1
    assert len(set(urls)) == 1
