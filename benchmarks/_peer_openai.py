"""Requests per second of the openai SDK's async client against the benchmark server.

Run by ``throughput.py`` with the Python of a separate environment that has ``openai`` (and
``httpx-aiohttp`` for its ``DefaultAioHttpClient``) installed; it imports nothing from knouds.

    <peer python> benchmarks/_peer_openai.py BASE_URL CONCURRENCY TOTAL {httpx,aiohttp}
"""

from __future__ import annotations

import asyncio
import sys
import time


async def main(base_url: str, concurrency: int, total: int, transport: str) -> None:
    import openai

    http = openai.DefaultAioHttpClient() if transport == "aiohttp" else None
    client = openai.AsyncOpenAI(
        api_key="sk-benchmark", base_url=f"{base_url}/v1", http_client=http, max_retries=0
    )
    left = 200  # warm-up requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "a red fox"}]
            )

    await asyncio.gather(*(worker() for _ in range(min(concurrency, 20))))  # warm up
    left = total
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    print(f"{total / (time.perf_counter() - started):.1f}")
    await client.close()


if __name__ == "__main__":
    url, level, count, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    asyncio.run(main(url, level, count, kind))
