"""1000 concurrent slow runs on one AsyncClient: all complete, in about the server's hold time.

The benchmark server holds every answer ``--hold`` seconds (default 2). If the client queued
requests behind a connection-pool limit (httpx's default is 100 connections), 1000 runs would take
``hold x 10`` seconds; with the SDK's limits they all run at once.

The default ``AsyncClient`` (httpx) and, with ``--aiohttp``, ``DefaultAioHttpClient`` run in turn,
``--reps`` times each (alternating); with ``--aiohttp`` a bare aiohttp session sends the same
requests too, as the floor. The table shows the median and the best total time.

    python benchmarks/slow_runs.py [--runs 1000] [--hold 2] [--aiohttp] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from _common import INPUTS, KEY, MODEL, median, raw_body, raw_headers, run_url, table
from _server import BenchServer

import knouds


async def bare(base_url: str, runs: int) -> tuple[int, float]:
    """The floor: the same requests from a bare aiohttp session, no SDK."""
    import aiohttp

    url = run_url(base_url)
    connector = aiohttp.TCPConnector(limit=2000)
    async with aiohttp.ClientSession(connector=connector, headers=raw_headers()) as session:

        async def one() -> object:
            async with session.post(url, data=raw_body()) as response:
                return json.loads(await response.read())

        started = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(runs)), return_exceptions=True)
        elapsed = time.perf_counter() - started
    return sum(isinstance(r, dict) for r in results), elapsed


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
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    transports = [("knouds, httpx (default)", "httpx")]
    if args.aiohttp:
        transports += [
            ("knouds, aiohttp (`DefaultAioHttpClient`)", "aiohttp"),
            ("bare aiohttp, no SDK (the floor)", "bare"),
        ]
    results: dict[str, list[tuple[int, float]]] = {name: [] for name, _ in transports}
    with BenchServer(delay=args.hold) as server:
        for rep in range(args.reps):
            for name, kind in transports if rep % 2 == 0 else transports[::-1]:
                if kind == "bare":
                    outcome = asyncio.run(bare(server.base_url, args.runs))
                else:
                    outcome = asyncio.run(run(server.base_url, args.runs, kind == "aiohttp"))
                results[name].append(outcome)
    rows = []
    for name, outcomes in results.items():
        times = [elapsed for _, elapsed in outcomes]
        completed = min(ok for ok, _ in outcomes)
        rows.append(
            (
                name,
                f"{completed}/{args.runs}",
                f"{median(times):.2f}",
                f"{min(times):.2f}",
                f"{median(times) / args.hold:.2f}x",
            )
        )
    print(
        f"{args.runs} concurrent runs, each held {args.hold:g} s by the server; "
        f"{args.reps} repetitions per transport (fewest completed shown).\n"
    )
    header = ["client", "completed", "total (s, median)", "best (s)", "median vs hold"]
    print(table(header, rows))


if __name__ == "__main__":
    main()
