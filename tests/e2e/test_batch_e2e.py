"""``run_many`` end to end: both clients against the rate-limited emulator over real sockets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import knouds
from knouds.testing import Emulator, Fault
from tests.conftest import resolve
from tests.e2e.conftest import prompt_of

MakeClient = Callable[..., Any]
WINDOW = 0.5
LIMIT = 10


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limit=LIMIT, window=WINDOW) as emulator:
        yield emulator


def prompts(n: int) -> list[dict[str, str]]:
    return [{"prompt": f"prompt {i}"} for i in range(n)]


async def test_forty_runs_under_a_rate_limit_are_paced_not_rejected(
    emu: Emulator, client: Any
) -> None:
    results = await resolve(client.models.run_many("gpt-image-2", prompts(40), concurrency=8))

    assert all(isinstance(r, knouds.RunResult) for r in results), results
    assert all(len(r.images) == 1 for r in results)
    executed = Counter(prompt_of(e.body) for e in emu.log if e.run == "gpt-image-2")
    assert executed == Counter(f"prompt {i}" for i in range(40))  # each input exactly once
    assert emu.run_count("gpt-image-2") == 40
    # Until the first response reports the limit, a 429 is possible; after that, pacing waits.
    first = emu.log[0].at
    late_429s = [e for e in emu.log if e.status == 429 and e.at >= first + WINDOW]
    assert late_429s == []


async def test_workflow_batch_with_a_failing_input(emu: Emulator, client: Any) -> None:
    emu.inject(Fault.status(500, "EXECUTION_FAILED", "Provider down"), times=1)
    batch = [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}]

    results = await resolve(
        client.workflows.run_many("my-thumbnail-pipeline", batch, concurrency=1)
    )

    assert isinstance(results[0], knouds.ExecutionFailedError)
    assert [type(r) for r in results[1:]] == [knouds.RunResult, knouds.RunResult]
    assert emu.run_count("my-thumbnail-pipeline") == 2  # the failed one is not re-sent


async def test_return_exceptions_false_stops_the_batch(emu: Emulator, client: Any) -> None:
    emu.set_balance(emu.api_key, 4 * 3)  # gpt-image-2 costs 4: three runs, then 402

    with pytest.raises(knouds.InsufficientCreditsError):
        await resolve(
            client.models.run_many(
                "gpt-image-2", prompts(10), concurrency=1, return_exceptions=False
            )
        )

    assert emu.run_count("gpt-image-2") == 3
    assert len([e for e in emu.log if e.path.endswith("/run")]) == 4
