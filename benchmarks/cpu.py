"""Client CPU per request: knouds versus raw httpx + json + pydantic doing the same call.

A minimal HTTP server runs in its own process (``_server.py``), so only the client's work shows
in ``time.process_time()``. Each repetition runs every contender once, in alternating order
(paired, interleaved), on long-lived warm clients; reported are the medians over repetitions of
the CPU microseconds per request and the median of the per-repetition ratios.

    python benchmarks/cpu.py [--reps 15] [--requests 400] [--concurrency 1 10 100] [--aiohttp]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from _common import INPUTS, KEY, MODEL, median, raw_body, raw_headers, raw_parse, run_url, table
from _server import BenchServer

import knouds
from knouds._config import DEFAULT_LIMITS, DEFAULT_TIMEOUT


def measure(fn: Callable[[], None]) -> tuple[float, float]:
    """CPU and wall seconds of ``fn()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def sync_section(base_url: str, reps: int, requests: int) -> str:
    """Sequential calls on the sync clients."""
    url = run_url(base_url)
    raw = httpx.Client(limits=DEFAULT_LIMITS, timeout=DEFAULT_TIMEOUT, headers=raw_headers())
    sdk = knouds.Client(KEY, base_url=base_url)

    def run_raw() -> None:
        for _ in range(requests):
            raw_parse(raw.post(url, content=raw_body()))

    def run_sdk() -> None:
        for _ in range(requests):
            sdk.models.run(MODEL, INPUTS)

    contenders = {"raw httpx + json + pydantic": run_raw, "knouds Client.models.run": run_sdk}
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():  # warm up connections, caches and pydantic
        fn()
    for rep in range(reps):
        order = list(contenders.items())
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            cpu, _ = measure(fn)
            samples[name].append(cpu / requests * 1e6)
    raw.close()
    sdk.close()
    base = samples["raw httpx + json + pydantic"]
    rows = []
    for name, values in samples.items():
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        rows.append((name, f"{median(values):.0f}", f"{median(ratios):.3f}x"))
    head = f"Sync, sequential: {reps} paired repetitions of {requests} requests each.\n\n"
    return head + table(["client", "CPU µs per request (median)", "vs raw (median ratio)"], rows)


async def _pool(concurrency: int, total: int, call: Callable[[], Awaitable[object]]) -> None:
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def async_section(
    base_url: str, reps: int, requests: int, levels: list[int], aiohttp: bool
) -> str:
    """Concurrent calls on the async clients, at each concurrency level."""
    url = run_url(base_url)
    raw = httpx.AsyncClient(limits=DEFAULT_LIMITS, timeout=DEFAULT_TIMEOUT, headers=raw_headers())
    sdk = knouds.AsyncClient(KEY, base_url=base_url)
    clients: list[knouds.AsyncClient] = [sdk]

    async def call_raw() -> None:
        raw_parse(await raw.post(url, content=raw_body()))

    contenders: dict[str, Callable[[], Awaitable[object]]] = {
        "raw httpx.AsyncClient + json + pydantic": call_raw,
        "knouds AsyncClient": lambda: sdk.models.run(MODEL, INPUTS),
    }
    if aiohttp:
        fast = knouds.AsyncClient(KEY, base_url=base_url, http_client=knouds.DefaultAioHttpClient())
        clients.append(fast)
        contenders["knouds AsyncClient + DefaultAioHttpClient"] = lambda: fast.models.run(
            MODEL, INPUTS
        )
    rows = []
    for level in levels:
        total = max(requests, level * 4)
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        walls: dict[str, list[float]] = {name: [] for name in contenders}
        for call in contenders.values():
            await _pool(level, total, call)
        for rep in range(reps):
            order = list(contenders.items())
            for name, call in order if rep % 2 == 0 else order[::-1]:
                cpu, wall = time.process_time(), time.perf_counter()
                await _pool(level, total, call)
                samples[name].append((time.process_time() - cpu) / total * 1e6)
                walls[name].append(total / (time.perf_counter() - wall))
        base = samples["raw httpx.AsyncClient + json + pydantic"]
        for name, values in samples.items():
            ratios = [v / b for v, b in zip(values, base, strict=True)]
            rows.append(
                (
                    level,
                    name,
                    f"{median(values):.0f}",
                    f"{median(ratios):.3f}x",
                    f"{median(walls[name]):.0f}",
                )
            )
    await raw.aclose()
    for client in clients:
        await client.aclose()
        if client is not sdk:
            await client._http.aclose()
    head = (
        f"Async: {reps} paired repetitions per level of max({requests}, 4 x concurrency) "
        "requests.\n\n"
    )
    header = ["concurrency", "client", "CPU µs per request", "vs raw (median ratio)", "req/s"]
    return head + table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--aiohttp", action="store_true", help="add knouds over aiohttp")
    parser.add_argument("--only", choices=["sync", "async"], default=None)
    args = parser.parse_args()
    with BenchServer() as server:
        if args.only != "async":
            print(sync_section(server.base_url, args.reps, args.requests), end="\n\n")
        if args.only != "sync":
            section = async_section(
                server.base_url, args.reps, args.requests, args.concurrency, args.aiohttp
            )
            print(asyncio.run(section))


if __name__ == "__main__":
    main()
