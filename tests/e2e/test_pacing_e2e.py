"""Pacing and 429 backoff over real sockets against the emulator, with short windows.

After one response has taught the client the window, paced clients never collect a 429, from many
asyncio tasks on one ``AsyncClient`` or many threads on one ``Client``, and nothing is lost or run
twice.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import knouds
from knouds.testing import Emulator
from tests.e2e.conftest import prompt_of

LIMIT = 10
WINDOW = 0.25


def statuses(emu: Emulator, after: int = 0) -> list[int | None]:
    return [entry.status for entry in emu.log[after:] if entry.path.startswith("/api/models/")]


async def test_fifty_async_tasks_never_hit_429_once_the_window_is_known() -> None:
    with Emulator(rate_limit=LIMIT, window=WINDOW) as emu:
        async with knouds.AsyncClient(emu.api_key, base_url=emu.base_url) as client:
            await client.models.run("gpt-5-mini", {"prompt": "warm-up"})
            taught = len(emu.log)
            results = await asyncio.gather(
                *(client.models.run("gpt-5-mini", {"prompt": f"task {i}"}) for i in range(50))
            )
        assert [r.text is not None for r in results] == [True] * 50
        assert 429 not in statuses(emu, taught)
        assert emu.run_count("gpt-5-mini") == 51


def test_twenty_threads_on_one_client_never_hit_429_once_the_window_is_known() -> None:
    with Emulator(rate_limit=LIMIT, window=WINDOW) as emu:
        with knouds.Client(emu.api_key, base_url=emu.base_url) as client:
            client.models.run("gpt-5-mini", {"prompt": "warm-up"})
            taught = len(emu.log)

            def work(thread: int) -> list[str | None]:
                return [
                    client.models.run("gpt-5-mini", {"prompt": f"{thread}-{i}"}).text
                    for i in range(3)
                ]

            with ThreadPoolExecutor(max_workers=20) as pool:
                texts = [t for batch in pool.map(work, range(20)) for t in batch]
        assert len(texts) == 60
        assert all(texts)
        assert 429 not in statuses(emu, taught)
        assert emu.run_count("gpt-5-mini") == 61


async def test_copies_share_the_budget() -> None:
    with Emulator(rate_limit=LIMIT, window=WINDOW) as emu:
        async with knouds.AsyncClient(emu.api_key, base_url=emu.base_url) as client:
            await client.models.run("gpt-5-mini", {"prompt": "warm-up"})
            taught = len(emu.log)
            copies = [client.with_options(timeout=30.0) for _ in range(5)]
            await asyncio.gather(
                *(c.models.run("gpt-5-mini", {"prompt": f"{i}"}) for i, c in enumerate(copies * 5))
            )
        assert 429 not in statuses(emu, taught)


async def test_pacing_survives_clock_skew() -> None:
    # Date has one-second resolution, so skew correction is only as precise as a second: the
    # window here is a second long.
    with Emulator(rate_limit=LIMIT, window=1.0, clock_skew=30.0) as emu:
        async with knouds.AsyncClient(emu.api_key, base_url=emu.base_url) as client:
            await client.models.run("gpt-5-mini", {"prompt": "warm-up"})
            taught = len(emu.log)
            await asyncio.gather(
                *(client.models.run("gpt-5-mini", {"prompt": f"{i}"}) for i in range(15))
            )
            assert client.rate_limits["models"].clock_offset > 20
        assert 429 not in statuses(emu, taught)
        assert emu.run_count("gpt-5-mini") == 16


def test_without_pacing_429s_are_retried_and_nothing_runs_twice() -> None:
    with Emulator(rate_limit=LIMIT, window=WINDOW) as emu:
        policy = knouds.RetryPolicy(max_retries=20, jitter=True)
        client = knouds.Client(emu.api_key, base_url=emu.base_url, pace=False, retry=policy)
        with client, ThreadPoolExecutor(max_workers=15) as pool:
            results = list(
                pool.map(lambda i: client.models.run("gpt-5-mini", {"prompt": f"n{i}"}), range(30))
            )
        assert len(results) == 30
        assert statuses(emu).count(429) > 0  # the burst collected 429s ...
        assert emu.run_count("gpt-5-mini") == 30  # ... and each run still executed exactly once
        prompts = [prompt_of(e.body) for e in emu.log if e.run and e.status == 200]
        assert sorted(prompts) == sorted(f"n{i}" for i in range(30))
