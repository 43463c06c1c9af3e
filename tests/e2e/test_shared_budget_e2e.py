"""Several OS processes, one emulator account, one rate-limit budget shared through a real Redis.

Each process runs a share of a batch from several threads (``Client``) or tasks
(``AsyncClient``) against one emulator over real sockets, with a short window. Sharing the store,
they collect no 429 once the first window has taught them the limit; pacing alone, they overrun
it. A Redis server stopped and restarted mid-batch costs no call.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

from knouds.testing import Emulator
from tests._support.redis_server import RedisServer

LIMIT = 10
WINDOW = 0.5
PROCESSES = 2
WORKERS = 4
ROOT = Path(__file__).resolve().parents[2]


def run_batch(
    emu: Emulator,
    client_kind: str,
    store: str,
    runs: int,
    *,
    during: Any = None,
) -> list[dict[str, Any]]:
    """Start the processes, let them go together, call ``during()`` meanwhile, collect results."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    procs = []
    for n in range(PROCESSES):
        config = {
            "name": f"p{n}",
            "kind": client_kind,
            "key": emu.api_key,
            "base_url": emu.base_url,
            "store": store,
            "runs": runs,
            "workers": WORKERS,
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.e2e._budget_worker", json.dumps(config)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        if during is not None:
            during()
        outcomes = []
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0, out
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
        return outcomes
    finally:
        for proc in procs:
            if proc.poll() is None:  # pragma: no cover - only when the test already failed
                proc.kill()
                proc.wait()


def late_429s(emu: Emulator) -> tuple[int, int]:
    """429 answers in the first window, and after it (windows align to multiples of WINDOW)."""
    entries = [e for e in emu.log if e.path.startswith("/api/models/")]
    first_end = (math.floor(entries[0].at / WINDOW) + 1) * WINDOW
    early = sum(1 for e in entries if e.status == 429 and e.at < first_end)
    late = sum(1 for e in entries if e.status == 429 and e.at >= first_end)
    return early, late


def test_processes_sharing_a_redis_store_get_no_429_after_the_first_window(
    client_kind: str, redis_url: str
) -> None:
    with Emulator(rate_limit=LIMIT, window=WINDOW) as emu:
        outcomes = run_batch(emu, client_kind, redis_url, runs=2 * LIMIT)
        assert [o["ok"] for o in outcomes] == [2 * LIMIT] * PROCESSES
        assert late_429s(emu)[1] == 0
        assert emu.run_count("gpt-5-mini") == 2 * LIMIT * PROCESSES
        assert all(o["unavailable_warnings"] == 0 and o["shared"] for o in outcomes)


def test_processes_pacing_alone_overrun_the_shared_limit(client_kind: str) -> None:
    with Emulator(rate_limit=LIMIT, window=WINDOW) as emu:
        outcomes = run_batch(emu, client_kind, "local", runs=2 * LIMIT)
        assert [o["ok"] for o in outcomes] == [2 * LIMIT] * PROCESSES  # 429s are retried
        assert late_429s(emu)[1] > 0


def test_a_redis_restart_mid_batch_costs_no_call(
    client_kind: str, redis_server: RedisServer
) -> None:
    def outage() -> None:
        # Longer than a window, so every process asks the store while it is away (not only
        # after sleeping through it).
        time.sleep(0.3)
        redis_server.stop()
        time.sleep(1.2 * WINDOW)
        redis_server.start()

    runs = 4 * LIMIT
    with Emulator(rate_limit=LIMIT, window=WINDOW) as emu:
        outcomes = run_batch(emu, client_kind, redis_server.url, runs, during=outage)
        for outcome in outcomes:
            # Every call ended in a result or a knouds error (any other error fails the worker).
            assert outcome["ok"] + sum(outcome["errors"].values()) == runs
            assert outcome["unavailable_warnings"] == 1
            assert outcome["shared"] is True  # back on the store by the end
        assert sum(o["ok"] for o in outcomes) == runs * PROCESSES
        with redis.Redis.from_url(redis_server.url) as conn:
            assert list(conn.scan_iter("knouds:ratelimit:*"))  # counting shared again
