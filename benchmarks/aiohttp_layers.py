"""Where the CPU of a run over aiohttp goes, layer by layer, at one concurrency level.

Each row adds one layer to the one above and sends the same run request to the benchmark server
(``_server.py``, its own process); repetitions are interleaved and the medians of CPU
microseconds per request are reported, with each layer's share:

1. bare ``aiohttp.ClientSession``: post, read, ``json.loads``;
2. the same through the SDK's aiohttp transport: an ``httpx.Request`` in, an ``httpx.Response``
   out (``DefaultAioHttpClient``'s transport called directly);
3. through ``DefaultAioHttpClient.send`` (the client layer the SDK calls);
4. plus pydantic validation of the body, as hand-written code would do;
5. ``knouds.AsyncClient.models.run`` over ``DefaultAioHttpClient`` (checks, pacing, rate-limit
   headers, errors, the typed result).

    python benchmarks/aiohttp_layers.py [--concurrency 100] [--requests 2000] [--reps 9]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
from _common import INPUTS, KEY, MODEL, RawResult, median, raw_body, raw_headers, run_url, table
from _server import BenchServer

import knouds


async def _pool(concurrency: int, total: int, call: Callable[[], Awaitable[object]]) -> None:
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def layers(base_url: str, args: argparse.Namespace) -> str:
    url = run_url(base_url)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=2000), headers=raw_headers()
    )
    http = knouds.DefaultAioHttpClient()
    transport = http._transport
    sdk = knouds.AsyncClient(KEY, base_url=base_url, http_client=http)

    parsed = httpx.URL(url)  # parsed once, as the SDK does
    headers = raw_headers()

    def request() -> httpx.Request:
        return httpx.Request("POST", parsed, headers=headers, content=raw_body())

    async def bare() -> None:
        async with session.post(url, data=raw_body()) as response:
            json.loads(await response.read())

    async def adapter() -> None:
        response = await transport.handle_async_request(request())
        json.loads(await response.aread())

    async def client() -> None:
        json.loads((await http.send(request())).content)

    async def validated() -> None:
        RawResult.model_validate(json.loads((await http.send(request())).content))

    async def run() -> None:
        await sdk.models.run(MODEL, INPUTS)

    contenders: dict[str, Callable[[], Awaitable[object]]] = {
        "1. bare aiohttp + json.loads": bare,
        "2. + httpx request/response adapter": adapter,
        "3. + DefaultAioHttpClient.send": client,
        "4. + pydantic validation": validated,
        "5. knouds AsyncClient.models.run": run,
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for call in contenders.values():
        await _pool(args.concurrency, args.requests // 4, call)
    names = list(contenders)
    for rep in range(args.reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            cpu = time.process_time()
            await _pool(args.concurrency, args.requests, contenders[name])
            samples[name].append((time.process_time() - cpu) / args.requests * 1e6)
    await sdk.aclose()
    await http.aclose()
    await session.close()
    rows = []
    previous = 0.0
    bare_median = median(samples[names[0]])
    for name in names:
        value = median(samples[name])
        rows.append(
            (name, f"{value:.0f}", f"{value - previous:+.0f}", f"{value / bare_median:.2f}x")
        )
        previous = value
    head = (
        f"{args.concurrency} in flight, {args.requests} requests per repetition, "
        f"{args.reps} interleaved repetitions (medians).\n\n"
    )
    header = ["layer", "CPU µs per request", "added by the layer", "vs bare aiohttp"]
    return head + table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    with BenchServer() as server:
        print(asyncio.run(layers(server.base_url, args)))


if __name__ == "__main__":
    main()
