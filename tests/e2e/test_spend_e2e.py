"""Spend control end to end: both clients against the emulator, which charges per its registry."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import knouds
from knouds.testing import Emulator
from tests.conftest import resolve

Connect = Callable[..., Any]
CREDITS = 1000


@pytest.fixture
def emu() -> Iterator[Emulator]:
    # Each sync run is held 50 ms, so concurrent runs are really in flight together.
    with Emulator(run_delay=0.05, execution_delay=0.05, credits=CREDITS) as emulator:
        yield emulator


def prompts(n: int) -> list[dict[str, str]]:
    return [{"prompt": f"prompt {i}"} for i in range(n)]


def runs_started(emu: Emulator, name: str) -> int:
    return sum(1 for entry in emu.log if entry.run == name)


async def test_a_budget_stops_new_runs_at_the_right_point(emu: Emulator, connect: Connect) -> None:
    client = connect(emu, budget=30)  # gpt-image-2 costs 4: 7 runs fit, the 8th would not

    started = 0
    for _ in range(20):
        try:
            await resolve(client.models.run("gpt-image-2", {"prompt": "a fox"}))
        except knouds.BudgetExceededError:
            break
        started += 1

    assert started == 7
    assert runs_started(emu, "gpt-image-2") == 7
    assert len([e for e in emu.log if e.path.endswith("/run")]) == 7  # the 8th was never sent
    assert CREDITS - emu.balance(emu.api_key) == 28 == client.budget.spent
    assert client.usage.by_model["gpt-image-2"] == knouds.UsageLine(28, 7, 0, 0)


async def test_overshoot_stays_within_runs_in_flight_times_their_cost(
    emu: Emulator, connect: Connect
) -> None:
    concurrency, cost, budget = 8, 20, 50  # seedance-2-i2v costs 20; its cost is not yet known
    client = connect(emu, budget=budget)

    results = await resolve(
        client.models.run_many("seedance-2-i2v", prompts(40), concurrency=concurrency)
    )

    done = [r for r in results if isinstance(r, knouds.RunResult)]
    refused = [r for r in results if isinstance(r, knouds.BudgetExceededError)]
    assert len(done) + len(refused) == 40
    charged = CREDITS - emu.balance(emu.api_key)
    assert charged == cost * len(done) == client.budget.spent == results.usage.credits
    assert runs_started(emu, "seedance-2-i2v") == len(done)
    # Stopped only when no further run fitted, and past the budget by at most the documented
    # bound: the runs in flight times their cost.
    assert budget - cost < charged <= budget + concurrency * cost
    # Runs that started before any cost was known hold nothing; after that, a run starts only
    # if the budget still has room for it counting the runs in flight.
    assert len(done) <= concurrency + budget // cost
    assert refused


async def test_with_a_known_cost_concurrent_runs_do_not_overshoot(
    emu: Emulator, connect: Connect
) -> None:
    client = connect(emu, budget=23)  # the workflow publishes its cost: 5

    results = await resolve(
        client.workflows.run_many("my-thumbnail-pipeline", prompts(12), concurrency=8)
    )

    assert results.estimate == 60
    assert sum(isinstance(r, knouds.RunResult) for r in results) == 4
    assert runs_started(emu, "my-thumbnail-pipeline") == 4
    assert CREDITS - emu.balance(emu.api_key) == 20 == client.budget.spent


async def test_a_batch_whose_estimate_exceeds_max_credits_is_refused(
    emu: Emulator, connect: Connect
) -> None:
    client = connect(emu)

    with pytest.raises(knouds.BudgetExceededError, match="estimated at 50 credits"):
        await resolve(
            client.workflows.run_many("my-thumbnail-pipeline", prompts(10), max_credits=49)
        )

    assert [e.path for e in emu.log] == ["/api/workflows/my-thumbnail-pipeline/schema"]
    assert emu.balance(emu.api_key) == CREDITS


async def test_an_estimate_below_the_charge_is_corrected_by_the_first_cost(
    emu: Emulator, connect: Connect
) -> None:
    emu.add_workflow("upscale", cost=7, estimate=5)
    client = connect(emu)
    assert await resolve(client.workflows.estimate("upscale", runs=4)) == 20

    results = await resolve(
        client.workflows.run_many("upscale", prompts(4), concurrency=1, max_credits=20)
    )

    # 5 estimated, 7 charged: after the first run each holds 7, so the third would not fit.
    assert [type(r).__name__ for r in results] == ["RunResult"] * 2 + ["BudgetExceededError"] * 2
    assert results.usage.credits == 14 == CREDITS - emu.balance(emu.api_key)


async def test_usage_report_by_model_and_workflow_with_grants(
    emu: Emulator, connect: Connect
) -> None:
    key = emu.create_key(grants={"gpt-image-2": 2})
    client = connect(emu, api_key=key)
    nodes = [
        {"id": "in", "type": "requestInput", "position": {"x": 0, "y": 0}, "data": {}},
        {"id": "out", "type": "responseOutput", "position": {"x": 1, "y": 0}, "data": {}},
    ]
    await resolve(client.workflows.create("No generators", nodes=nodes, edges=[]))

    await resolve(client.models.run_many("gpt-image-2", prompts(2), concurrency=1))
    await resolve(client.models.run("gpt-5-mini", {"prompt": "hello"}))
    await resolve(client.workflows.run("my-thumbnail-pipeline", {"prompt": "a"}))
    await resolve(client.workflows.run("no-generators", {"prompt": "a"}))
    execution = await resolve(client.models.submit("suno-v5", {"prompt": "a song"}))
    await resolve(client.executions.wait(execution, poll_interval=0.02))

    usage = client.usage
    assert usage.by_model["gpt-image-2"] == knouds.UsageLine(0, 2, 2, 0)
    assert usage.by_model["gpt-5-mini"] == knouds.UsageLine(1, 1, 0, 0)
    assert usage.by_model["suno-v5"] == knouds.UsageLine(10, 1, 0, 0)
    assert usage.by_workflow["my-thumbnail-pipeline"] == knouds.UsageLine(5, 1, 0, 0)
    assert usage.by_workflow["no-generators"] == knouds.UsageLine(0, 1, 1, 0)
    assert usage.credits == 16 == CREDITS - emu.balance(key)
    assert (usage.runs, usage.grant_runs) == (6, 3)
    assert await resolve(client.workflows.estimate("no-generators")) is None


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    import knouds

    kind, base_url, api_key, redis_url = sys.argv[1:5]
    budget = knouds.Budget(100, store=redis_url, name="nightly")
    inputs = [{"prompt": f"p{i}"} for i in range(30)]

    def main():
        with knouds.Client(api_key, base_url=base_url, budget=budget) as client:
            client.workflows.estimate("my-thumbnail-pipeline")
            return client.workflows.run_many("my-thumbnail-pipeline", inputs, concurrency=4)

    async def amain():
        async with knouds.AsyncClient(api_key, base_url=base_url, budget=budget) as client:
            await client.workflows.estimate("my-thumbnail-pipeline")
            return await client.workflows.run_many(
                "my-thumbnail-pipeline", inputs, concurrency=4
            )

    results = main() if kind == "sync" else asyncio.run(amain())
    print(sum(isinstance(r, knouds.RunResult) for r in results))
    """
)


def test_two_processes_share_one_budget_through_redis(emu: Emulator, redis_url: str) -> None:
    # One process with a Client, one with an AsyncClient, racing for the same 100 credits.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, kind, emu.base_url, emu.api_key, redis_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for kind in ("sync", "async")
    ]
    outputs = [worker.communicate(timeout=60) for worker in workers]

    assert [w.returncode for w in workers] == [0, 0], [err.decode() for _, err in outputs]
    done = [int(out) for out, _ in outputs]
    assert sum(done) == 20  # 100 credits at 5 each, whichever process ran them
    assert runs_started(emu, "my-thumbnail-pipeline") == 20
    assert CREDITS - emu.balance(emu.api_key) == 100
    shared = knouds.Budget(100, store=redis_url, name="nightly")
    assert (shared.spent, shared.held) == (100, 0)


async def test_the_workflow_list_publishes_estimates_the_budget_uses(
    emu: Emulator, connect: Connect
) -> None:
    client = connect(emu, budget=4)  # my-thumbnail-pipeline is listed at 5 credits
    listed = await resolve(client.workflows.list())
    assert {w.slug: w.estimated_credit_cost for w in listed}["my-thumbnail-pipeline"] == 5

    with pytest.raises(knouds.BudgetExceededError, match="expected to cost 5"):
        await resolve(client.workflows.run("my-thumbnail-pipeline", {"prompt": "a"}))

    assert runs_started(emu, "my-thumbnail-pipeline") == 0


async def submit_until_refused(client: Any, name: str, tries: int = 50) -> list[Any]:
    """A webhook user's loop: submit and never poll, until the budget refuses."""
    started = []
    for _ in range(tries):
        try:
            started.append(await resolve(client.models.submit(name, {"prompt": "a song"})))
        except knouds.BudgetExceededError:
            break
    return started


async def test_a_submit_only_loop_is_stopped_by_the_budget(emu: Emulator, connect: Connect) -> None:
    client = connect(emu, budget=25)  # suno-v5 costs 10, not known to the client yet

    first = await submit_until_refused(client, "suno-v5")
    assert len(first) == 1 == runs_started(emu, "suno-v5")  # one of unknown cost at a time
    with pytest.raises(knouds.BudgetExceededError, match="prices="):
        await resolve(client.models.submit("suno-v5", {"prompt": "a song"}))

    await resolve(client.executions.wait(first[0], poll_interval=0.02))  # its cost: 10
    more = await submit_until_refused(client, "suno-v5")

    assert len(more) == 1  # 10 + 10 counted when it started; a third would make 30
    assert runs_started(emu, "suno-v5") == 2
    assert CREDITS - emu.balance(emu.api_key) == 20 == client.budget.spent


async def test_with_a_stated_price_a_submit_only_loop_stops_at_the_budget(
    emu: Emulator, connect: Connect
) -> None:
    client = connect(emu, budget=knouds.Budget(25, prices={"suno-v5": 10}))

    started = await submit_until_refused(client, "suno-v5")

    assert len(started) == 2 == runs_started(emu, "suno-v5")
    assert CREDITS - emu.balance(emu.api_key) == 20 == client.budget.spent


async def test_a_pending_submission_of_unknown_cost_is_seen_by_every_process_through_redis(
    emu: Emulator, connect: Connect, redis_url: str
) -> None:
    # Two budgets on one Redis name: what two processes sharing a budget each build.
    one = connect(emu, budget=knouds.Budget(25, store=redis_url, name="songs"))
    two = connect(emu, budget=knouds.Budget(25, store=redis_url, name="songs"))
    pending = await resolve(one.models.submit("suno-v5", {"prompt": "a song"}))

    with pytest.raises(knouds.BudgetExceededError, match="still pending"):
        await resolve(two.models.submit("suno-v5", {"prompt": "a song"}))

    await resolve(one.executions.wait(pending, poll_interval=0.02))
    assert one.budget.spent == 10
    other = await resolve(two.models.submit("suno-v5", {"prompt": "a song"}))
    await resolve(two.executions.wait(other, poll_interval=0.02))
    assert runs_started(emu, "suno-v5") == 2
    assert CREDITS - emu.balance(emu.api_key) == 20 == two.budget.spent
    assert two.budget.held == 0
