"""1000 concurrent slow runs on one AsyncClient: all complete, in about the server's hold time.

The benchmark server holds every answer ``--hold`` seconds (default 2). If the client queued
requests behind a connection-pool limit (httpx's default is 100 connections), 1000 runs would take
``hold x 10`` seconds; with the SDK's limits they all run at once.

    python benchmarks/slow_runs.py [--runs 1000] [--hold 2] [--aiohttp]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import INPUTS, KEY, MODEL, table
from _server import BenchServer

import knouds


async def run(base_url: str, runs: int, aiohttp: bool) -> tuple[int, float]:
    http = knouds.DefaultAioHttpClient() if aiohttp else None
    async with knouds.AsyncClient(KEY, base_url=base_url, http_client=http) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(client.models.run(MODEL, INPUTS) for _ in range(runs)), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
    if http is not None:
        await http.aclose()
    return sum(isinstance(r, knouds.RunResult) for r in results), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=2.0)
    parser.add_argument("--aiohttp", action="store_true", help="also over DefaultAioHttpClient")
    args = parser.parse_args()
    rows = []
    with BenchServer(delay=args.hold) as server:
        for name, aio in [("httpx (default)", False)] + (
            [("aiohttp", True)] if args.aiohttp else []
        ):
            ok, elapsed = asyncio.run(run(server.base_url, args.runs, aio))
            rows.append(
                (name, f"{ok}/{args.runs}", f"{elapsed:.2f}", f"{elapsed / args.hold:.2f}x")
            )
    print(f"{args.runs} concurrent runs, each held {args.hold:g} s by the server.\n")
    print(table(["transport", "completed", "total time (s)", "vs hold time"], rows))


if __name__ == "__main__":
    main()
