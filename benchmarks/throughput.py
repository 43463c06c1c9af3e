"""Async requests per second at high concurrency: knouds over httpx and over aiohttp, raw httpx,
raw aiohttp, and (when a peer environment is given) the openai SDK, against one local server.

Every contender sends ``--requests`` requests from N concurrent tasks, for each N in
``--concurrency``; repetitions are interleaved (the order rotates) and the table shows the median
requests per second. The server runs in its own process; on a 2-core machine the client and the
server share the cores, so absolute figures are lower than on a real deployment.

openai runs in a separate Python environment (``--peer-python``, e.g. ``/tmp/peers/bin/python``
after ``python -m venv /tmp/peers && /tmp/peers/bin/pip install openai httpx-aiohttp``); without
it those rows are skipped.

    python benchmarks/throughput.py [--reps 3] [--requests 3000] [--concurrency 100 1000]
        [--peer-python /tmp/peers/bin/python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from _common import INPUTS, KEY, MODEL, RawResult, median, raw_body, raw_headers, raw_parse, run_url
from _common import table as markdown_table
from _server import BenchServer

import knouds
from knouds._core.settings import DEFAULT_LIMITS, DEFAULT_TIMEOUT

Call = Callable[[], Awaitable[object]]
PEER_SCRIPT = str(Path(__file__).resolve().parent / "_peer_openai.py")


async def rate(concurrency: int, total: int, call: Call) -> float:
    """Requests per second of ``total`` calls from ``concurrency`` tasks."""
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def in_process(base_url: str, args: argparse.Namespace) -> dict[tuple[str, int], list[float]]:
    import aiohttp

    url = run_url(base_url)
    raw = httpx.AsyncClient(limits=DEFAULT_LIMITS, timeout=DEFAULT_TIMEOUT, headers=raw_headers())
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=2000), headers=raw_headers()
    )
    sdk = knouds.AsyncClient(KEY, base_url=base_url)
    aio_http = knouds.DefaultAioHttpClient()
    fast = knouds.AsyncClient(KEY, base_url=base_url, http_client=aio_http)

    async def call_raw() -> None:
        raw_parse(await raw.post(url, content=raw_body()))

    async def call_aiohttp() -> None:
        async with session.post(url, data=raw_body()) as response:
            if response.status != 200:
                raise RuntimeError(response.status)
            RawResult.model_validate(json.loads(await response.read()))

    contenders: dict[str, Call] = {
        "raw httpx.AsyncClient + json + pydantic": call_raw,
        "knouds AsyncClient (httpx transport, default)": lambda: sdk.models.run(MODEL, INPUTS),
        "knouds AsyncClient + DefaultAioHttpClient": lambda: fast.models.run(MODEL, INPUTS),
        "raw aiohttp.ClientSession + json + pydantic": call_aiohttp,
    }
    for call in contenders.values():
        await rate(20, 200, call)  # warm up
    samples: dict[tuple[str, int], list[float]] = {}
    names = list(contenders)
    for level in args.concurrency:
        for rep in range(args.reps):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                value = await rate(level, args.requests, contenders[name])
                samples.setdefault((name, level), []).append(value)
                if args.peer_python and name == names[0]:
                    for transport in ("httpx", "aiohttp"):
                        peer = peer_rate(
                            args.peer_python, base_url, level, args.requests, transport
                        )
                        samples.setdefault((f"openai AsyncOpenAI ({transport})", level), []).append(
                            peer
                        )
    await raw.aclose()
    await session.close()
    await sdk.aclose()
    await fast.aclose()
    await aio_http.aclose()
    return samples


def peer_rate(python: str, base_url: str, level: int, total: int, transport: str) -> float:
    """openai's requests per second, measured in its own environment and process."""
    out = subprocess.run(
        [python, PEER_SCRIPT, base_url, str(level), str(total), transport],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--peer-python", default=None)
    args = parser.parse_args()
    with BenchServer() as server:
        samples = asyncio.run(in_process(server.base_url, args))
    rows = []
    for level in args.concurrency:
        base = median(samples[("raw httpx.AsyncClient + json + pydantic", level)])
        for (name, at), values in samples.items():
            if at == level:
                value = median(values)
                rows.append((level, name, f"{value:.0f}", f"{value / base:.2f}x"))
    print(
        f"{args.requests} requests per run, {args.reps} interleaved repetitions, "
        f"Python {sys.version.split()[0]}.\n"
    )
    header = ["concurrency", "client", "req/s (median)", "vs raw httpx"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
