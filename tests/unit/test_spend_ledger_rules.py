"""The spend ledger of one client (`SpendTracker`) and a batch's spend (`BatchSpend`), driven
directly: what a run holds, what its end charges and counts, and what a batch reports."""

from __future__ import annotations

from typing import Any

import pytest

import knouds
from knouds._core.commands import CostPendingType
from knouds._core.spend import RunRef, charged
from knouds._stores.spend import BatchSpend, SpendTracker, plan_batch
from knouds.models import Execution, RunResult, WorkflowSummary

NOW = 1_700_000_000.0
MODEL = RunRef("model", "m")
FLOW = RunRef("workflow", "flow")


def budget(credits: float = 100, **kwargs: Any) -> knouds.Budget:
    return knouds.Budget(credits, clock=lambda: NOW, **kwargs)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> object:
    """Where a budget counts: this process (``None``) or a real Redis server."""
    return None if request.param == "memory" else request.getfixturevalue("redis_url")


def execution(execution_id: str, status: str = "processing", **fields: Any) -> Execution:
    return Execution.model_validate({"executionId": execution_id, "status": status, **fields})


def submit(ledger: SpendTracker, ref: RunRef, execution_id: str) -> None:
    ticket = ledger.begin(ref, None, submission=True)
    assert not isinstance(ticket, CostPendingType)
    ledger.finish(ticket, execution(execution_id))


# -- what a credit amount is ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cost", "amount"),
    [(0, 0.0), (3, 3.0), (0.5, 0.5), (-1, None), (float("nan"), None), (float("inf"), None)],
)
def test_only_a_finite_non_negative_number_is_a_charge(cost: object, amount: float | None) -> None:
    assert charged(cost) == amount or (amount is None and charged(cost) is None)


@pytest.mark.parametrize("cost", [True, False, "3", None])
def test_a_boolean_or_a_string_is_no_charge(cost: object) -> None:
    assert charged(cost) is None


def test_a_run_is_labelled_by_its_kind_and_name() -> None:
    assert RunRef("workflow", "my-flow").label == "a run of workflow 'my-flow'"


# -- what a run is expected to cost ---------------------------------------------------------------


def test_a_workflow_listing_publishes_the_estimates_it_carries() -> None:
    ledger = SpendTracker(budget())
    summaries = [
        WorkflowSummary.model_validate({"slug": "flow", "estimatedCreditCost": 7}),
        WorkflowSummary.model_validate({"slug": "free-form", "estimatedCreditCost": None}),
    ]
    ledger.publish_listing(summaries)
    assert ledger.known(FLOW) == 7.0
    assert isinstance(ledger.known(FLOW), float)
    assert ledger.known(RunRef("model", "flow")) is None  # a workflow's estimate, not a model's
    assert ledger.known(RunRef("workflow", "free-form")) is None
    ledger.begin(FLOW, None)
    assert ledger.budget is not None
    assert ledger.budget.held == 7


def test_a_charged_cost_takes_precedence_over_the_estimate_and_the_price() -> None:
    ledger = SpendTracker(budget(prices={"flow": 2}))
    assert ledger.known(FLOW) == 2
    ledger.publish(FLOW, 5)
    assert ledger.known(FLOW) == 5
    ticket = ledger.begin(FLOW, None)
    ledger.finish(ticket, RunResult(cost=4))  # type: ignore[arg-type]
    assert ledger.known(FLOW) == 4


# -- a batch's report -----------------------------------------------------------------------------


def test_a_batch_note_shows_its_estimate_before_any_run_ends() -> None:
    batch = BatchSpend(10, None, 3)
    assert batch.status(0) == "0 credits, ~30 estimated"
    assert BatchSpend(10, None, None).status(0) == "0 credits"


def test_a_batch_note_projects_the_average_cost_over_the_runs_left() -> None:
    batch = BatchSpend(10, None, 3)
    batch.usage.record("model", "m", 2)
    batch.usage.record("model", "m", 6)
    assert batch.status(2) == "8 credits, ~40 projected"  # 8 + 4 a run * 8 runs left
    assert batch.status(12) == "8 credits, ~8 projected"  # never fewer runs than none left


# -- what a run holds -----------------------------------------------------------------------------


def test_a_run_of_unknown_cost_holds_nothing_and_goes_first_alone() -> None:
    ledger = SpendTracker(budget(10))
    first = ledger.begin(MODEL, None)
    assert not isinstance(first, CostPendingType)
    assert ledger.budget is not None
    assert ledger.budget.held == 0
    # It waits for the first one's cost, under the budget it names.
    assert ledger.begin(MODEL, None) == CostPendingType(10, 0, 0, "client")
    ledger.finish(first, RunResult(cost=3))
    second = ledger.begin(MODEL, None)
    assert not isinstance(second, CostPendingType)
    assert (ledger.budget.spent, ledger.budget.held) == (3, 3)


def test_a_pending_submission_holds_nothing_and_refuses_its_twin_by_name() -> None:
    ledger = SpendTracker(budget(10))
    submit(ledger, MODEL, "e-1")
    assert ledger.budget is not None
    assert (ledger.budget.spent, ledger.budget.held) == (0, 0)
    with pytest.raises(knouds.BudgetExceededError) as refused:
        ledger.begin(MODEL, None, submission=True)
    assert str(refused.value).startswith("Not starting a run of model 'm': ")
    assert (refused.value.scope, refused.value.requested) == ("client", 0)


def test_a_batch_submission_of_unknown_cost_keeps_the_others_waiting_until_its_end() -> None:
    ledger = SpendTracker(None)
    batch = BatchSpend(3, 10, None)
    first = ledger.begin(MODEL, batch, submission=True)
    ledger.finish(first, execution("e-1"))  # type: ignore[arg-type]
    assert ledger.begin(MODEL, batch, submission=True) == CostPendingType(10, 0, 0, "batch")
    ledger.observe(execution("e-1", "completed", cost=2))
    assert batch.budget is not None
    assert batch.budget.spent == 2
    assert not isinstance(ledger.begin(MODEL, batch, submission=True), CostPendingType)
    assert batch.budget.held == 2


def test_a_run_refused_or_never_sent_is_released_without_a_charge(store: object) -> None:
    ledger = SpendTracker(budget(10, store=store, prices={"m": 4}))
    ticket = ledger.begin(MODEL, None)
    assert ledger.budget is not None
    assert ledger.budget.held == 4
    ledger.fail(ticket, "rejected")  # type: ignore[arg-type]
    assert (ledger.budget.spent, ledger.budget.held) == (0, 0)
    assert ledger.usage.snapshot().unconfirmed_runs == 0


def test_a_run_charged_a_fraction_of_a_credit_teaches_its_price() -> None:
    ledger = SpendTracker(budget(10))
    ticket = ledger.begin(MODEL, None)
    ledger.finish(ticket, RunResult(cost=0.5))  # type: ignore[arg-type]
    assert ledger.known(MODEL) == 0.5
    assert ledger.budget is not None
    assert ledger.budget.spent == 0.5


@pytest.mark.parametrize("end", ["unknown", "no cost"])
def test_a_batch_run_of_unknown_outcome_counts_as_unconfirmed_in_the_batch_too(end: str) -> None:
    ledger = SpendTracker(budget(10, prices={"m": 2}))
    batch = BatchSpend(1, 10, None)
    ticket = ledger.begin(MODEL, batch)
    if end == "unknown":
        ledger.fail(ticket, "unknown")  # type: ignore[arg-type]
    else:
        ledger.finish(ticket, RunResult(cost=None))  # type: ignore[arg-type]
    for usage in (ledger.usage.snapshot(), batch.usage.snapshot()):
        assert (usage.runs, usage.unconfirmed_runs, usage.credits) == (0, 1, 0)
    assert batch.budget is not None
    assert batch.budget.spent == 2  # the expected cost stays counted


# -- what an ended submission counts --------------------------------------------------------------


def test_a_pending_submission_ended_without_a_cost_releases_its_marker_unconfirmed(
    store: object,
) -> None:
    ledger = SpendTracker(budget(10, store=store))
    submit(ledger, MODEL, "e-1")
    ledger.observe(execution("e-1", "completed"))
    assert ledger.budget is not None
    assert (ledger.budget.spent, ledger.budget.held) == (0, 0)
    assert ledger.usage.snapshot().unconfirmed_runs == 1
    submit(ledger, MODEL, "e-2")  # the marker is gone: the next submission may start


def test_a_failed_submission_that_was_charged_counts_and_teaches_its_price() -> None:
    ledger = SpendTracker(budget(10))
    submit(ledger, MODEL, "e-1")
    ledger.observe(execution("e-1", "failed", cost=0.5))
    assert ledger.budget is not None
    assert ledger.budget.spent == 0.5
    usage = ledger.usage.snapshot()
    assert (usage.credits, usage.runs) == (0.5, 1)
    assert ledger.known(MODEL) == 0.5


def test_a_failed_submission_charged_nothing_is_not_counted_as_a_run() -> None:
    ledger = SpendTracker(budget(10, prices={"m": 2}))
    submit(ledger, MODEL, "e-1")
    assert ledger.budget is not None
    assert ledger.budget.spent == 2
    ledger.observe(execution("e-1", "failed", cost=0))
    assert ledger.budget.spent == 0
    assert ledger.usage.snapshot().runs == 0
    assert ledger.known(MODEL) == 2  # a charge of 0 teaches nothing


def test_the_owner_of_a_seen_submission_is_forgotten_so_pending_ones_are_not_evicted() -> None:
    # Submitters are remembered up to a bound (never-polled submissions): one already seen must
    # not take the place of one still pending that another client of the budget may see end.
    shared = budget(100_000, prices={"m": 1})
    first, second = SpendTracker(shared), SpendTracker(shared)
    submit(first, MODEL, "pending")
    submit(first, MODEL, "seen")
    first.observe(execution("seen", "completed", cost=1))
    for number in range(9_999):
        submit(first, MODEL, f"e-{number}")
    second.observe(execution("pending", "completed", cost=3))
    assert shared.spent == 10_001 + 2  # 10,001 submissions at 1, and "pending" cost 3
    assert first.usage.snapshot().credits == 4


def test_the_oldest_unseen_submission_is_forgotten_past_ten_thousand() -> None:
    ledger = SpendTracker(budget(100_000, prices={"m": 1}))
    for number in range(10_001):
        submit(ledger, MODEL, f"e-{number}")
    ledger.observe(execution("e-0", "completed", cost=3))  # forgotten: stays at its expected 1
    ledger.observe(execution("e-1", "completed", cost=3))
    assert ledger.budget is not None
    assert ledger.budget.spent == 10_001 + 2
    assert ledger.usage.snapshot().runs == 1


# -- a batch's plan -------------------------------------------------------------------------------


def test_a_batch_estimated_at_exactly_its_max_credits_starts() -> None:
    ledger = SpendTracker(None)
    batch = plan_batch(ledger, MODEL, 4, 12, 3)
    assert batch.estimate == 12
    assert batch.budget is not None
    assert batch.budget.credits == 12
    assert ledger.known(MODEL) == 3
    with pytest.raises(knouds.BudgetExceededError) as refused:
        plan_batch(ledger, MODEL, 5, 12, 3)
    error = refused.value
    assert (error.limit, error.spent, error.requested, error.scope) == (12, 0, 15, "batch")
    assert "5 runs of model 'm' are estimated at 15 credits" in str(error)
    assert "max_credits=12" in str(error)


@pytest.mark.parametrize("estimate_each", [3, 3 + 1e-9 / 4, 3.125])
def test_a_batch_is_refused_only_when_its_estimate_passes_max_credits(
    estimate_each: float,
) -> None:
    ledger = SpendTracker(None)
    if estimate_each <= 3 + 1e-9:  # within a billionth of a credit: it fits
        assert plan_batch(ledger, MODEL, 4, 12, estimate_each).estimate == 4 * estimate_each
        return
    with pytest.raises(knouds.BudgetExceededError) as refused:
        plan_batch(ledger, MODEL, 4, 12, estimate_each)
    assert "4 runs of model 'm' are estimated at 12.5 credits" in str(refused.value)
    assert refused.value.requested == 12.5


def test_a_batch_of_a_bad_max_credits_names_the_setting() -> None:
    with pytest.raises(knouds.ConfigurationError) as bad:
        plan_batch(SpendTracker(None), MODEL, 4, -1, 3)
    assert str(bad.value).startswith("max_credits must be ")


@pytest.mark.parametrize(
    ("estimate_each", "warned"), [(2.5, False), (2.5 + 1e-9 / 4, False), (2.625, True)]
)
def test_a_batch_estimated_past_what_is_left_of_the_budget_is_warned_of(
    caplog: pytest.LogCaptureFixture, estimate_each: float, warned: bool
) -> None:
    client_budget = budget(20)
    client_budget._store.settle(client_budget._key(NOW), "earlier", 10, 0.0)
    with caplog.at_level("WARNING", logger="knouds"):
        batch = plan_batch(SpendTracker(client_budget), MODEL, 4, None, estimate_each)
    assert batch.budget is None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    if not warned:
        assert warnings == []
        return
    assert warnings == [
        "4 runs of model 'm' are estimated at 10.5 credits, more than the 10 left of the credit "
        "budget: the budget will stop the batch part way"
    ]
