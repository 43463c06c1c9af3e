"""Client CPU per request: knouds versus raw httpx + json + pydantic doing the same call.

A minimal HTTP server runs in its own process (``_server.py``), so only the client's work shows
in ``time.process_time()``. Each repetition runs every contender once, in alternating order
(paired, interleaved), on long-lived warm clients; reported are the medians over repetitions of
the CPU microseconds per request and the median of the per-repetition ratios.

The async section also measures bare aiohttp (``--aiohttp``) and the default async clients of
openai and anthropic when they are installed (``pip install openai anthropic``), against the same
server (it answers their routes with fixed bodies).

    python benchmarks/cpu.py [--reps 15] [--requests 400] [--concurrency 1 10 100] [--aiohttp]
        [--no-peers] [--only sync|async]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from _common import INPUTS, KEY, MODEL, median, raw_body, raw_headers, raw_parse, run_url, table
from _server import BenchServer

import knouds
from knouds._core.settings import DEFAULT_LIMITS, DEFAULT_TIMEOUT

RAW_ASYNC = "raw httpx.AsyncClient + json + pydantic"
BARE_AIOHTTP = "bare aiohttp.ClientSession + json.loads"


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


def _peer_calls(base_url: str) -> tuple[dict[str, Callable[[], Awaitable[object]]], list[Any]]:
    """openai's and anthropic's default async clients, for those installed."""
    calls: dict[str, Callable[[], Awaitable[object]]] = {}
    closers: list[Any] = []
    messages: Any = [{"role": "user", "content": "a red fox"}]
    try:
        import openai
    except ImportError:
        pass
    else:
        oai = openai.AsyncOpenAI(api_key="sk-benchmark", base_url=f"{base_url}/v1")
        closers.append(oai)
        calls[f"openai {openai.__version__} AsyncOpenAI (default)"] = lambda: (
            oai.chat.completions.create(model="gpt-4o-mini", messages=messages)
        )
    try:
        import anthropic
    except ImportError:
        pass
    else:
        ant = anthropic.AsyncAnthropic(api_key="sk-ant-benchmark", base_url=base_url)
        closers.append(ant)
        calls[f"anthropic {anthropic.__version__} AsyncAnthropic (default)"] = lambda: (
            ant.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=messages)
        )
    return calls, closers


async def async_section(
    base_url: str, reps: int, requests: int, levels: list[int], aiohttp: bool, peers: bool
) -> str:
    """Concurrent calls on the async clients, at each concurrency level."""
    url = run_url(base_url)
    raw = httpx.AsyncClient(limits=DEFAULT_LIMITS, timeout=DEFAULT_TIMEOUT, headers=raw_headers())
    sdk = knouds.AsyncClient(KEY, base_url=base_url)
    closers: list[Any] = [raw, sdk]

    async def call_raw() -> None:
        raw_parse(await raw.post(url, content=raw_body()))

    contenders: dict[str, Callable[[], Awaitable[object]]] = {
        RAW_ASYNC: call_raw,
        "knouds AsyncClient (default)": lambda: sdk.models.run(MODEL, INPUTS),
    }
    if aiohttp:
        import aiohttp as aiohttp_lib

        session = aiohttp_lib.ClientSession(
            connector=aiohttp_lib.TCPConnector(limit=DEFAULT_LIMITS.max_connections or 0),
            headers=raw_headers(),
        )
        aio_http = knouds.DefaultAioHttpClient()
        fast = knouds.AsyncClient(KEY, base_url=base_url, http_client=aio_http)
        closers += [fast, aio_http]

        async def call_aiohttp() -> None:
            async with session.post(url, data=raw_body()) as response:
                if response.status != 200:
                    raise RuntimeError(f"unexpected status {response.status}")
                json.loads(await response.read())

        contenders[BARE_AIOHTTP] = call_aiohttp
        contenders["knouds AsyncClient + DefaultAioHttpClient"] = lambda: fast.models.run(
            MODEL, INPUTS
        )
    if peers:
        calls, peer_closers = _peer_calls(base_url)
        contenders.update(calls)
        closers += peer_closers
    rows = []
    for level in levels:
        total = max(requests, level * 4)
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        walls: dict[str, list[float]] = {name: [] for name in contenders}
        for call in contenders.values():
            await _pool(level, total, call)
        names = list(contenders)
        for rep in range(reps):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:  # rotate the order every repetition
                cpu, wall = time.process_time(), time.perf_counter()
                await _pool(level, total, contenders[name])
                samples[name].append((time.process_time() - cpu) / total * 1e6)
                walls[name].append(total / (time.perf_counter() - wall))
        base = samples[RAW_ASYNC]
        bare = samples.get(BARE_AIOHTTP)
        for name, values in samples.items():
            ratios = [v / b for v, b in zip(values, base, strict=True)]
            vs_bare = "-"
            if bare is not None:
                ratios_bare = [v / b for v, b in zip(values, bare, strict=True)]
                vs_bare = f"{median(ratios_bare):.2f}x"
            rows.append(
                (
                    level,
                    name,
                    f"{median(values):.0f}",
                    f"{median(ratios):.2f}x",
                    vs_bare,
                    f"{median(walls[name]):.0f}",
                )
            )
    for closer in closers:
        await closer.aclose() if hasattr(closer, "aclose") else await closer.close()
    if aiohttp:
        await session.close()
    head = (
        f"Async: {reps} paired repetitions per level of max({requests}, 4 x concurrency) "
        "requests, the order rotated every repetition.\n\n"
    )
    header = [
        "in flight",
        "client (async)",
        "CPU µs per request",
        "vs raw httpx",
        "vs bare aiohttp",
        "req/s",
    ]
    return head + table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument(
        "--aiohttp", action="store_true", help="add bare aiohttp and knouds over aiohttp"
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="leave out openai and anthropic even if installed"
    )
    parser.add_argument("--only", choices=["sync", "async"], default=None)
    args = parser.parse_args()
    with BenchServer() as server:
        if args.only != "async":
            print(sync_section(server.base_url, args.reps, args.requests), end="\n\n")
        if args.only != "sync":
            section = async_section(
                server.base_url,
                args.reps,
                args.requests,
                args.concurrency,
                args.aiohttp,
                not args.no_peers,
            )
            print(asyncio.run(section))


if __name__ == "__main__":
    main()
