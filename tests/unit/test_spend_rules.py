"""Budget rules whose breakage spends credits past a budget, for both clients and both budget
stores (in this process, and shared through a real Redis server)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import knouds
from tests.conftest import FakeTime, resolve
from tests.unit.test_spend import Billing, prompts, submissions

MakeClient = Callable[..., Any]
MODEL = "gpt-image-2"


@pytest.fixture(params=["memory", "redis"])
def budget_store(request: pytest.FixtureRequest) -> object:
    """Where a budget counts: ``None`` (this process) or a real Redis server."""
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_url")


def budget_of(credits: float, store: object, fake_time: FakeTime, **kwargs: Any) -> knouds.Budget:
    # The budget reads the same (fake) clock the client holds with: Redis expires holds by it.
    return knouds.Budget(credits, store=store, clock=fake_time.time, **kwargs)


async def submit_loop(client: Any, times: int) -> int:
    """Submit ``times`` runs and never poll them (as a webhook user does): how many started."""
    started = 0
    for _ in range(times):
        try:
            await resolve(client.models.submit(MODEL, {"prompt": "x"}))
        except knouds.BudgetExceededError:
            continue
        started += 1
    return started


# -- a run paid by a trial grant (cost 0) says nothing about the price ----------------------------


@pytest.mark.parametrize("grant", ["run", "submission"])
async def test_a_run_paid_by_a_trial_grant_is_never_learnt_as_a_price(
    make_client: MakeClient, budget_store: object, fake_time: FakeTime, grant: str
) -> None:
    billing = Billing({MODEL: 0})
    billing.execution["cost"] = 0
    client = make_client(billing, budget=budget_of(10, budget_store, fake_time))
    if grant == "run":
        await resolve(client.models.run(MODEL, {"prompt": "x"}))
    else:
        execution = await resolve(client.models.submit(MODEL, {"prompt": "x"}))
        await resolve(client.executions.wait(execution))
    assert client.usage.grant_runs == 1
    billing.execution["cost"] = 4  # the trial grant is used up: each run now costs 4

    # Still of unknown cost: one submission is pending at a time, not 30 "free" ones.
    started = await submit_loop(client, 30)

    assert started == 1
    assert submissions(billing) == (1 if grant == "run" else 2)
    assert client.budget.spent == 0  # its end was never seen


# -- one Budget given to two clients: a submission is counted whichever client sees it end --------


async def test_a_submission_waited_on_through_another_client_of_the_budget_is_counted(
    make_client: MakeClient, budget_store: object, fake_time: FakeTime
) -> None:
    billing = Billing()
    billing.execution["cost"] = 12
    budget = budget_of(100, budget_store, fake_time)
    first, second = make_client(billing, budget=budget), make_client(billing, budget=budget)

    execution = await resolve(first.models.submit(MODEL, {"prompt": "x"}))
    result = await resolve(second.executions.wait(execution))

    assert result.cost == 12
    assert (budget.spent, budget.held) == (12, 0)
    assert first.usage.credits == 12  # the run is the first client's: counted in its usage
    assert second.usage.runs == 0
    await resolve(first.models.submit(MODEL, {"prompt": "x"}))  # not refused as still pending
    assert submissions(billing) == 2
    assert (budget.spent, budget.held) == (24, 0)  # the cost is known now: counted at once


# -- a batch's max_credits refusing a run hands back what the client's budget held for it --------


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_run_refused_by_max_credits_releases_its_hold_in_the_client_budget(
    make_client: MakeClient, budget_store: object, fake_time: FakeTime, concurrency: int
) -> None:
    billing = Billing()
    budget = budget_of(100, budget_store, fake_time, prices={MODEL: 4})
    client = make_client(billing, budget=budget)

    results = await resolve(
        client.models.run_many(
            MODEL, prompts(5), max_credits=6, concurrency=concurrency, return_exceptions=True
        )
    )

    refused = [r for r in results if isinstance(r, knouds.BudgetExceededError)]
    assert len(billing.runs) == 1  # 4 fits in 6; each further 4 does not
    assert len(refused) == 4
    assert all(error.scope == "batch" for error in refused)
    assert (budget.spent, budget.held, budget.remaining) == (4, 0, 96)
