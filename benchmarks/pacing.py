"""A paced batch under a rate limit: knouds with pacing, knouds without, and a naive retry loop.

Each contender sends the same requests from the same number of concurrent workers to the local
emulator, which allows ``--limit`` requests per ``--window`` seconds. Reported: the number of 429
answers, the total time, and the ideal time (requests / limit x window).

    python benchmarks/pacing.py [--requests 200] [--limit 20] [--window 2] [--workers 20]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

import knouds
from knouds.testing import Emulator

MODEL = "gpt-5-mini"


async def pool(workers: int, jobs: int, job: Callable[[int], Awaitable[None]]) -> None:
    queue = iter(range(jobs))

    async def worker() -> None:
        for i in queue:
            await job(i)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def run_knouds(emu: Emulator, key: str, args: argparse.Namespace, pace: bool) -> None:
    policy = knouds.RetryPolicy(max_retries=50, max_retry_wait=3600)
    async with knouds.AsyncClient(key, base_url=emu.base_url, pace=pace, retry=policy) as client:

        async def job(i: int) -> None:
            await client.models.run(MODEL, {"prompt": f"job {i}"})

        await pool(args.workers, args.requests, job)


async def run_naive(emu: Emulator, key: str, args: argparse.Namespace) -> None:
    """What most code does by hand: send, and on 429 sleep Retry-After and send again."""
    async with httpx.AsyncClient(base_url=emu.base_url, headers={"x-api-key": key}) as http:

        async def job(i: int) -> None:
            while True:
                response = await http.post(
                    f"/api/models/{MODEL}/run", json={"inputs": {"prompt": f"job {i}"}}
                )
                if response.status_code != 429:
                    response.raise_for_status()
                    return
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))

        await pool(args.workers, args.requests, job)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=20)
    args = parser.parse_args()
    ideal = args.requests / args.limit * args.window
    contenders: dict[str, Callable[[Emulator, str], Awaitable[None]]] = {
        "knouds, pacing on (default)": lambda emu, key: run_knouds(emu, key, args, pace=True),
        "knouds, pace=False (429 + Retry-After)": lambda emu, key: run_knouds(
            emu, key, args, pace=False
        ),
        "naive loop: retry on 429 only": lambda emu, key: run_naive(emu, key, args),
    }
    rows = []
    with Emulator(rate_limit=args.limit, window=args.window) as emu:
        for name, contender in contenders.items():
            key = emu.create_key(capabilities={"*"})
            before = len(emu.log)
            started = time.perf_counter()
            asyncio.run(contender(emu, key))
            elapsed = time.perf_counter() - started
            statuses = [e.status for e in emu.log[before:]]
            runs = sum(1 for e in emu.log[before:] if e.run)
            rows.append((name, statuses.count(429), elapsed, runs))
    print(
        f"{args.requests} requests, limit {args.limit} per {args.window:g} s window, "
        f"{args.workers} concurrent workers; ideal time {ideal:.1f} s\n"
    )
    print("| contender | 429 answers | total time (s) | vs ideal | runs executed |")
    print("|---|---:|---:|---:|---:|")
    for name, count, elapsed, runs in rows:
        print(f"| {name} | {count} | {elapsed:.2f} | {elapsed / ideal:.2f}x | {runs} |")


if __name__ == "__main__":
    main()
