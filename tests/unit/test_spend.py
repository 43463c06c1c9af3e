"""Spend control with both clients over a mock transport: budgets, max_credits, estimates, usage."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import knouds
from knouds._core.spend import RunRef
from knouds._stores.budget import MemoryBudgetStore
from knouds._stores.usage import UsageRecorder
from tests.conftest import FakeTime, json_response, resolve

MakeClient = Callable[..., Any]
EXECUTION_ID = "3f1c2a9e-5b7d-4c1e-9a2b-8d6f0e4c3b21"


class Billing:
    """A fake Knouds: each run costs ``costs[name]`` (popped from a list when one is given),
    or answers with ``fail`` (status, code) instead. Records every request."""

    def __init__(
        self,
        costs: dict[str, Any] | None = None,
        *,
        estimate: float | None = None,
        fail: tuple[int, str] | None = None,
    ) -> None:
        self.costs = costs or {"gpt-image-2": 4, "my-flow": 5}
        self.estimate = estimate
        self.fail = fail
        self.requests: list[httpx.Request] = []
        self.execution: dict[str, Any] = {"status": "completed", "cost": 6, "result": {}}

    @property
    def runs(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/run")]

    def cost(self, name: str) -> float:
        cost = self.costs[name]
        return cost.pop(0) if isinstance(cost, list) else cost  # type: ignore[no-any-return]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/schema"):
            fields = [{"name": "prompt", "type": "text"}]
            return json_response(200, {"fields": fields, "estimatedCreditCost": self.estimate})
        if path.startswith("/api/executions/"):
            return json_response(200, {"executionId": EXECUTION_ID, **self.execution})
        if self.fail is not None:
            status, code = self.fail
            return json_response(status, {"error": "refused", "code": code})
        name = path.split("/")[3]
        if request.url.params.get("async") == "true":
            return json_response(202, {"executionId": EXECUTION_ID, "status": "processing"})
        body = {"success": True, "result": {"text": "ok"}, "cost": self.cost(name), "ms": 5}
        content = json.dumps(body).encode()  # NaN and Infinity too, as a careless server sends
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})


def prompts(n: int) -> list[dict[str, str]]:
    return [{"prompt": f"p{i}"} for i in range(n)]


async def test_budget_refuses_the_run_that_would_not_fit_and_sends_nothing(
    make_client: MakeClient,
) -> None:
    billing = Billing()
    client = make_client(billing, budget=10)

    for _ in range(2):  # the first run's cost is unknown; then each holds 4 while in flight
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    with pytest.raises(knouds.BudgetExceededError) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert len(billing.runs) == 2
    error = caught.value
    assert not isinstance(error, knouds.APIStatusError)
    assert (error.limit, error.spent, error.held, error.requested) == (10, 8, 0, 4)
    assert error.scope == "client"
    assert "Nothing was sent" in str(error)
    assert "2 credits left" in str(error)
    assert client.budget.spent == 8
    assert client.budget.remaining == 2


async def test_a_run_of_unknown_cost_starts_until_the_budget_is_spent(
    make_client: MakeClient,
) -> None:
    billing = Billing({"gpt-image-2": 12})
    client = make_client(billing, budget=10)

    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))  # overshoots: cost unknown
    with pytest.raises(knouds.BudgetExceededError, match="is spent"):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert len(billing.runs) == 1
    assert client.budget.spent == 12
    assert client.budget.remaining == 0


async def test_grant_paid_runs_cost_nothing_and_are_counted_apart(
    make_client: MakeClient,
) -> None:
    billing = Billing({"gpt-image-2": [0, 0, 4], "my-flow": 5})
    client = make_client(billing, budget=9)

    for _ in range(3):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    await resolve(client.workflows.run("my-flow", {"prompt": "x"}))

    usage = client.usage
    assert (usage.credits, usage.runs, usage.grant_runs) == (9, 4, 2)
    assert usage.by_model["gpt-image-2"] == knouds.UsageLine(4, 3, 2, 0)
    assert usage.by_workflow["my-flow"] == knouds.UsageLine(5, 1, 0, 0)
    assert str(usage).splitlines() == [
        "9 credits, 4 runs (2 paid by a trial grant)",
        "  model gpt-image-2: 4 credits, 3 runs",
        "  workflow my-flow: 5 credits, 1 runs",
    ]
    assert "<table" in usage._repr_html_()
    assert "my-flow" in usage._repr_html_()
    with pytest.raises(knouds.BudgetExceededError):
        await resolve(client.workflows.run("my-flow", {"prompt": "x"}))


@pytest.mark.parametrize(
    ("fail", "counted"),
    [
        ((402, "INSUFFICIENT_CREDITS"), 0),  # refused: provably not charged
        ((400, "INVALID_INPUTS"), 0),
        ((500, "EXECUTION_FAILED"), 4),  # unknown outcome: the expected cost is counted
    ],
)
async def test_failed_runs_count_only_when_they_may_have_been_charged(
    make_client: MakeClient, fail: tuple[int, str], counted: int
) -> None:
    billing = Billing()
    client = make_client(billing, budget=100)
    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))  # learns the cost: 4
    billing.fail = fail

    with pytest.raises(knouds.APIStatusError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert client.budget.spent == 4 + counted
    assert client.budget.held == 0
    assert client.usage.credits == 4
    assert client.usage.unconfirmed_runs == (1 if counted else 0)


async def test_with_options_copies_share_the_budget_and_the_usage(
    make_client: MakeClient,
) -> None:
    billing = Billing()
    client = make_client(billing, budget=8)
    copy = client.with_options(api_key="knouds_live_other_key_0123456789", max_retries=0)

    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    await resolve(copy.models.run("gpt-image-2", {"prompt": "x"}))
    with pytest.raises(knouds.BudgetExceededError):
        await resolve(copy.models.run("gpt-image-2", {"prompt": "x"}))
    with pytest.raises(knouds.BudgetExceededError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert copy.budget is client.budget
    assert client.usage.credits == copy.usage.credits == 8
    assert len(billing.runs) == 2


async def test_one_budget_object_is_shared_by_two_clients(make_client: MakeClient) -> None:
    budget = knouds.Budget(4)
    first, second = make_client(Billing(), budget=budget), make_client(Billing(), budget=budget)

    await resolve(first.models.run("gpt-image-2", {"prompt": "x"}))
    with pytest.raises(knouds.BudgetExceededError):
        await resolve(second.models.run("gpt-image-2", {"prompt": "x"}))
    assert second.usage.runs == 0  # usage stays per client


async def test_a_budget_with_a_period_starts_afresh(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    fake_time.now = 1_700_006_400.0  # a multiple of the hour
    client = make_client(Billing(), budget=knouds.Budget(8, period=3600, clock=fake_time.time))
    for _ in range(2):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    with pytest.raises(knouds.BudgetExceededError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    fake_time.advance(3600)
    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert client.budget.spent == 4
    assert client.usage.credits == 12


@pytest.mark.parametrize("budget", [-1, float("nan"), "10", True])
def test_bad_budgets_are_refused(budget: object) -> None:
    # ConfigurationError is a ValueError: code written for the ValueError raised before works.
    with pytest.raises(knouds.ConfigurationError, match="budget"):
        knouds.Client(api_key="knouds_live_x", budget=budget)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="credits"):
        knouds.Budget(budget)  # type: ignore[arg-type]


async def test_max_credits_stops_a_model_batch(make_client: MakeClient) -> None:
    billing = Billing()
    client = make_client(billing, budget=100)

    results = await resolve(
        client.models.run_many("gpt-image-2", prompts(5), concurrency=1, max_credits=10)
    )

    assert [type(r).__name__ for r in results] == ["RunResult"] * 2 + ["BudgetExceededError"] * 3
    assert results[2].scope == "batch"
    assert results[2].limit == 10
    assert len(billing.runs) == 2
    assert type(results) is knouds.BatchResults
    assert issubclass(knouds.BatchResults, list)
    assert results.usage.credits == 8
    assert results.estimate is None
    assert results.summary() == "2 succeeded, 3 failed; 8 credits charged"
    assert client.budget.spent == 8  # the batch also counts against the client's budget
    html = results._repr_html_()
    assert "BudgetExceededError" in html
    assert "8 credits charged" in html


async def test_a_workflow_batch_over_max_credits_is_refused_before_it_starts(
    make_client: MakeClient,
) -> None:
    billing = Billing(estimate=5)
    client = make_client(billing)

    with pytest.raises(knouds.BudgetExceededError, match="estimated at 50 credits") as caught:
        await resolve(client.workflows.run_many("my-flow", prompts(10), max_credits=40))

    assert caught.value.requested == 50
    assert caught.value.scope == "batch"
    assert [r.url.path for r in billing.requests] == ["/api/workflows/my-flow/schema"]


async def test_a_workflow_batch_over_the_budget_left_is_announced_then_stopped(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    billing = Billing(estimate=5)
    client = make_client(billing, budget=30)
    await resolve(client.workflows.run("my-flow", {"prompt": "x"}))

    with caplog.at_level("INFO", logger="knouds"):
        results = await resolve(client.workflows.run_many("my-flow", prompts(6), concurrency=6))

    assert "6 runs of workflow 'my-flow': 30 credits" in caplog.text
    assert "more than the 25 left of the credit budget" in caplog.text
    assert results.estimate == 30
    assert results.usage.credits == 25
    # Which of the six concurrent runs is refused depends on the threads' or tasks' order.
    refused = [r for r in results if isinstance(r, knouds.BudgetExceededError)]
    assert [r.scope for r in refused] == ["client"]
    assert client.budget.remaining == 0
    assert len(billing.runs) == 6


async def test_workflow_estimate_reads_the_schema(make_client: MakeClient) -> None:
    client = make_client(Billing(estimate=2.5))
    assert await resolve(client.workflows.estimate("my-flow", runs=4)) == 10.0
    assert await resolve(make_client(Billing()).workflows.estimate("my-flow")) is None
    with pytest.raises(ValueError, match="runs"):
        await resolve(client.workflows.estimate("my-flow", runs=-1))


async def test_a_published_estimate_holds_credits_for_runs_in_flight(
    make_client: MakeClient,
) -> None:
    client = make_client(Billing(estimate=5), budget=12)
    assert await resolve(client.workflows.estimate("my-flow")) == 5
    spend = client._spend
    ref = RunRef("workflow", "my-flow")

    first = spend.begin(ref, None)
    second = spend.begin(ref, None)
    with pytest.raises(knouds.BudgetExceededError, match="10 held by runs in flight"):
        spend.begin(ref, None)
    spend.finish(first, knouds.RunResult(cost=5))
    spend.fail(second, "rejected")  # the pipeline's verdict on a run refused with a 400

    assert (client.budget.spent, client.budget.held) == (5, 0)


async def test_max_credits_must_be_a_number(make_client: MakeClient) -> None:
    billing = Billing()
    client = make_client(billing)
    with pytest.raises(ValueError, match="max_credits"):
        await resolve(client.models.run_many("gpt-image-2", prompts(2), max_credits=-5))
    assert billing.requests == []


async def test_the_progress_bar_shows_credits_and_the_projection(
    make_client: MakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(Billing())

    await resolve(client.models.run_many("gpt-image-2", prompts(4), progress=True, concurrency=1))

    err = capsys.readouterr().err
    assert "16 credits, ~16 projected" in err


async def test_a_submission_counts_its_expected_cost_until_its_end_is_seen(
    make_client: MakeClient,
) -> None:
    billing = Billing()
    client = make_client(billing, budget=100)
    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))  # learns 4

    execution = await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
    assert client.budget.spent == 8  # the expected cost, until the real one is known
    await resolve(client.executions.get(execution))
    await resolve(client.executions.get(execution))  # seen twice, counted once

    assert client.budget.spent == 10
    assert client.usage.by_model["gpt-image-2"].credits == 10


def test_usage_starts_empty() -> None:
    client = knouds.Client(api_key="knouds_live_x")
    assert client.usage == knouds.Usage(since=client.usage.since)
    assert str(client.usage) == "0 credits, 0 runs (0 paid by a trial grant)"
    assert client.budget is None
    assert json.loads("[]") == knouds.BatchResults([])


def test_batch_results_html_previews_media_and_caps_its_rows() -> None:
    image = knouds.RunResult(result={"images": ["https://cdn.test/a.png"]}, cost=4)
    text = knouds.RunResult(result={"text": "<b>hi</b>"}, cost=0)
    outcomes: list[Any] = [image, text, knouds.InvalidInputsError("bad <input>")] + [text] * 60
    usage_source = UsageRecorder()
    usage_source.record("model", "gpt-image-2", 4)
    results = knouds.BatchResults(outcomes, usage=usage_source.snapshot(), estimate=10)

    html = results._repr_html_()

    assert '<img src="https://cdn.test/a.png"' in html
    assert "&lt;b&gt;hi&lt;/b&gt;" in html
    assert "bad &lt;input&gt;" in html
    assert "… 13 more" in html
    assert results.summary() == "62 succeeded, 1 failed; 4 credits charged; estimated 10"
    assert "<td>gpt-image-2</td><td>4</td>" in html


class SlowStore(MemoryBudgetStore):
    """A store that does I/O (like Redis): taking a hold waits for ``go``; records the threads
    that settle."""

    blocking = True

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.go = threading.Event()
        self.held_once = threading.Event()
        self.settled = threading.Event()
        self.settled_on: list[int] = []

    def hold(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        self.go.wait(5)
        try:
            return super().hold(*args, **kwargs)
        finally:
            self.held_once.set()

    def settle(self, *args: Any) -> None:
        self.settled_on.append(threading.get_ident())
        super().settle(*args)
        self.settled.set()


def slow_budget(credits: float) -> tuple[knouds.Budget, SlowStore]:
    budget = knouds.Budget(credits)
    store = SlowStore()
    budget._store = store
    return budget, store


@pytest.mark.parametrize("client_kind", ["async"])  # only the async client waits for the store
async def test_a_run_cancelled_while_its_hold_is_taken_releases_it(
    make_client: MakeClient,
) -> None:
    billing = Billing()
    budget, store = slow_budget(100)
    client = make_client(billing, budget=budget)
    client._spend.publish(RunRef("model", "gpt-image-2"), 10.0)

    task = asyncio.create_task(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert await asyncio.to_thread(store.entered.wait, 5)
    task.cancel()
    store.go.set()
    # The hold under way lands, then the cancellation reaches the run, which releases it.
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.held_once.is_set()
    assert store.settled.is_set()

    assert budget.held == 0.0
    assert budget.spent == 0.0
    assert billing.runs == []


@pytest.mark.parametrize("client_kind", ["async"])  # the sync client has no loop to block
async def test_a_failed_run_settles_a_blocking_budget_off_the_event_loop(
    make_client: MakeClient,
) -> None:
    billing = Billing(fail=(400, "INVALID_INPUT"))
    budget, store = slow_budget(100)
    store.go.set()
    client = make_client(billing, budget=budget, max_retries=0)
    client._spend.publish(RunRef("model", "gpt-image-2"), 10.0)

    with pytest.raises(knouds.BadRequestError):
        await client.models.run("gpt-image-2", {"prompt": "x"})

    assert store.settled_on
    assert threading.get_ident() not in store.settled_on
    assert budget.held == 0.0
    assert len(billing.runs) == 1


async def test_a_cost_that_is_not_a_finite_amount_neither_poisons_nor_refunds_the_budget(
    make_client: MakeClient,
) -> None:
    # JSON parsers take NaN and Infinity; a negative charge would hand credits back.
    billing = Billing({"gpt-image-2": [4, float("nan"), -50, float("inf"), 4]})
    client = make_client(billing, budget=30)

    for _ in range(5):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    # The odd costs count as what such a run is expected to cost (the last cost seen: 4).
    assert client.budget.spent == 20
    assert client.budget.remaining == 10
    usage = client.usage
    assert usage.credits == 8
    assert usage.runs == 2
    assert usage.unconfirmed_runs == 3


async def test_a_run_answered_without_a_cost_counts_its_expected_cost_and_is_capped(
    make_client: MakeClient,
) -> None:
    # The contract says a run's answer always carries ``cost``; one without it is no free run.
    billing = Billing({"gpt-image-2": [4, None, None, None]})
    client = make_client(billing, budget=knouds.Budget(10, prices={"gpt-image-2": 4}))

    for _ in range(2):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    with pytest.raises(knouds.BudgetExceededError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))

    assert client.budget.spent == 8
    assert len(billing.runs) == 2
    usage = client.usage
    assert (usage.credits, usage.runs, usage.unconfirmed_runs) == (4, 1, 1)


async def test_a_submission_completed_without_a_cost_keeps_its_expected_cost(
    make_client: MakeClient,
) -> None:
    billing = Billing()
    billing.execution = {"status": "completed", "result": {}}  # no cost: not a free run
    client = make_client(billing, budget=100)
    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))  # learns 4

    submitted = await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
    await resolve(client.executions.get(submitted))

    assert client.budget.spent == 8
    assert client.usage.unconfirmed_runs == 1


@pytest.mark.parametrize(
    ("execution", "credits", "runs"),
    [
        ({"status": "cancelled"}, 0, 0),  # stopped before it ran: no charge, no run
        ({"status": "failed", "error": {"message": "boom"}}, 0, 0),
        (
            {"status": "failed", "error": {"message": "boom"}, "cost": 3},
            3,
            1,
        ),  # charged all the same
    ],
)
async def test_a_submission_that_did_not_complete_is_no_grant_paid_run(
    make_client: MakeClient, execution: dict[str, Any], credits: float, runs: int
) -> None:
    billing = Billing()
    billing.execution = execution
    client = make_client(billing, budget=100)
    await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))  # learns 4

    submitted = await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
    await resolve(client.executions.get(submitted))

    assert client.budget.spent == 4 + credits
    usage = client.usage
    assert usage.credits == 4 + credits
    assert usage.runs == 1 + runs
    assert usage.grant_runs == 0


def submissions(billing: Billing) -> int:
    return sum(1 for r in billing.runs if r.url.params.get("async") == "true")


async def test_a_submit_only_loop_of_unknown_cost_stops_until_an_end_is_seen(
    make_client: MakeClient,
) -> None:
    billing = Billing()
    billing.execution["cost"] = 3
    client = make_client(billing, budget=12)
    first = await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))

    for _ in range(5):  # a webhook user never polls: the cost stays unknown
        with pytest.raises(knouds.BudgetExceededError) as refused:
            await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
        assert "executions.wait" in str(refused.value)
        assert "prices={'gpt-image-2': credits}" in str(refused.value)
    assert submissions(billing) == 1  # nothing else was sent
    assert client.budget.spent == 0
    await resolve(client.models.run("my-flow", {"prompt": "x"}))  # other runs still start

    await resolve(client.executions.get(first))  # ended, charged 3: the cost is now known
    assert client.budget.spent == 3 + 5
    assert client.budget.held == 0
    await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))  # counted at 3: 11
    assert client.budget.spent == 11
    with pytest.raises(knouds.BudgetExceededError, match="has 1 credits left"):
        await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
    assert submissions(billing) == 2


async def test_with_a_price_a_submit_only_loop_stops_at_the_budget(
    make_client: MakeClient,
) -> None:
    billing = Billing()
    client = make_client(billing, budget=knouds.Budget(10, prices={"gpt-image-2": 4}))

    started = 0
    for _ in range(50):
        try:
            await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
        except knouds.BudgetExceededError:
            break
        started += 1

    assert started == submissions(billing) == 2  # 4 + 4 fit, a third would make 12
    assert client.budget.spent == 8


async def test_a_pending_submission_of_unknown_cost_blocks_for_hold_ttl_at_most(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    billing = Billing()
    client = make_client(billing, budget=knouds.Budget(10, hold_ttl=60, clock=fake_time.time))
    await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
    with pytest.raises(knouds.BudgetExceededError):
        await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))

    fake_time.advance(61)  # its process may have died: the pending hold has expired
    await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
    assert submissions(billing) == 2


async def test_a_failed_submission_of_unknown_cost_does_not_block_the_next(
    make_client: MakeClient,
) -> None:
    billing = Billing(fail=(429, "rate_limited"))
    client = make_client(billing, budget=10, max_retries=0)
    for _ in range(2):
        with pytest.raises(knouds.APIStatusError):
            await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
    assert submissions(billing) == 2
    assert client.budget.held == 0


def test_bad_prices_are_refused() -> None:
    with pytest.raises(knouds.ConfigurationError, match="price"):
        knouds.Budget(10, prices={"gpt-image-2": -1})
    with pytest.raises(knouds.ConfigurationError, match="price"):
        knouds.Budget(10, prices={"gpt-image-2": "4"})  # type: ignore[dict-item]
    assert knouds.Budget(10, prices={"gpt-image-2": 4}).prices == {"gpt-image-2": 4.0}


async def test_a_submission_of_unknown_cost_and_outcome_blocks_the_next_until_hold_ttl(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    billing = Billing(fail=(503, "unavailable"))
    budget = knouds.Budget(10, hold_ttl=60, clock=fake_time.time)
    client = make_client(billing, budget=budget, max_retries=0)
    with pytest.raises(knouds.APIStatusError):  # it may have started: its id is unknown
        await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
    with pytest.raises(knouds.BudgetExceededError, match="still pending"):
        await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
    assert client.usage.unconfirmed_runs == 1

    fake_time.advance(61)
    billing.fail = None
    await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
