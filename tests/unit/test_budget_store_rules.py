"""The in-process budget store and the rule every store applies: what a budget allows, what it
holds and counts, and what its refusal tells the user."""

from __future__ import annotations

import os

import pytest

from knouds import BudgetExceededError
from knouds._stores.budget_store import MemoryBudgetStore, Totals, _allows, refusal

KEY = "default"
NOW = 1_700_000_000.0
TTL = 60.0


def hold(store: MemoryBudgetStore, hold_id: str, amount: float, limit: float = 10) -> bool:
    granted, _ = store.hold(KEY, hold_id, amount, limit, NOW, TTL, 0.0)
    return granted


# -- what a budget allows -------------------------------------------------------------------------


def test_a_run_that_fits_exactly_is_allowed_and_one_credit_more_is_not() -> None:
    store = MemoryBudgetStore()
    store.settle(KEY, "none", 6, 0.0)
    assert not hold(store, "a", 4.000001)
    assert hold(store, "b", 4)
    assert store.totals(KEY, NOW) == Totals(6, 4)


def test_a_spent_budget_refuses_even_a_run_of_unknown_cost() -> None:
    store = MemoryBudgetStore()
    store.settle(KEY, "none", 10, 0.0)
    assert not hold(store, "free", 0)
    store.clear(KEY)
    store.settle(KEY, "none", 9.5, 0.0)
    assert hold(store, "free", 0)  # half a credit left: a run of unknown cost may start


def test_a_billionth_of_a_credit_is_the_tolerance_of_the_limit_both_ways() -> None:
    # Within a billionth of its limit, a budget is spent: not even a run of unknown cost starts.
    assert not _allows(Totals(1 - 1e-9, 0), 0, 1)
    assert _allows(Totals(1 - 2e-9, 0), 0, 1)
    # A run expected to cost up to a billionth more than what is left still fits.
    assert _allows(Totals(0, 0), 1 + 1e-9, 1)
    assert not _allows(Totals(0, 0), 1 + 2e-9, 1)


def test_credits_held_by_runs_in_flight_count_like_credits_spent() -> None:
    store = MemoryBudgetStore()
    assert hold(store, "a", 7)
    granted, before = store.hold(KEY, "b", 4, 10, NOW, TTL, 0.0)
    assert (granted, before) == (False, Totals(0, 7))
    assert hold(store, "c", 3)
    assert not hold(store, "d", 0)  # 7 + 3 held: the budget is taken


def test_the_totals_returned_are_those_before_the_hold() -> None:
    store = MemoryBudgetStore()
    store.settle(KEY, "none", 2, 0.0)
    granted, before = store.hold(KEY, "a", 3, 10, NOW, TTL, 0.0)
    assert (granted, before) == (True, Totals(2, 0))


# -- what it holds and counts ---------------------------------------------------------------------


def test_amounts_are_counted_in_exact_micro_credits() -> None:
    store = MemoryBudgetStore()
    store.settle(KEY, "x", 0.1, 0.0)
    store.settle(KEY, "y", 0.2, 0.0)
    store.settle(KEY, "z", 0.000001, 0.0)
    assert store.totals(KEY, NOW).spent == 0.300001  # no float drift (0.1 + 0.2 != 0.3)
    assert hold(store, "a", 0.000003)
    assert store.totals(KEY, NOW).held == 0.000003


def test_settling_drops_the_hold_and_counts_the_charge_once() -> None:
    store = MemoryBudgetStore()
    assert hold(store, "a", 4)
    assert hold(store, "b", 2)
    store.settle(KEY, "a", 3, 0.0)
    assert store.totals(KEY, NOW) == Totals(3, 2)
    store.settle(KEY, "b", 0, 0.0)  # never sent: the hold goes, nothing is charged
    assert store.totals(KEY, NOW) == Totals(3, 0)


def test_keys_count_apart() -> None:
    store = MemoryBudgetStore()
    store.settle("one", "a", 5, 0.0)
    assert store.totals("two", NOW) == Totals(0, 0)
    store.settle("never-held", "a", 0, 0.0)
    assert store.totals("never-held", NOW) == Totals(0, 0)


def test_clear_forgets_both_spent_and_held() -> None:
    store = MemoryBudgetStore()
    store.clear(KEY)  # nothing counted yet: nothing to forget
    store.settle(KEY, "a", 5, 0.0)
    assert hold(store, "b", 4)
    store.clear(KEY)
    assert store.totals(KEY, NOW) == Totals(0, 0)
    assert hold(store, "c", 10)


def test_a_hold_lives_until_settled_however_long_its_run_takes() -> None:
    store = MemoryBudgetStore()
    assert hold(store, "a", 4)
    assert store.totals(KEY, NOW + 100 * TTL) == Totals(0, 4)


def test_an_exclusive_marker_refuses_its_twin_until_it_expires() -> None:
    store = MemoryBudgetStore()
    granted, _ = store.hold(KEY, "marker", 0, 10, NOW, TTL, 0.0, exclusive=True)
    assert granted
    for now in (NOW, NOW + TTL - 1):
        granted, _ = store.hold(KEY, "marker", 0, 10, now, TTL, 0.0, exclusive=True)
        assert not granted
    # Another marker, or a plain hold, is not refused by it.
    assert store.hold(KEY, "other", 0, 10, NOW, TTL, 0.0, exclusive=True)[0]
    assert hold(store, "plain", 1)
    granted, _ = store.hold(KEY, "marker", 0, 10, NOW + TTL, TTL, 0.0, exclusive=True)
    assert granted  # expired at now + ttl exactly


def test_an_expired_marker_no_longer_counts_as_held() -> None:
    store = MemoryBudgetStore()
    store.hold(KEY, "marker", 2, 10, NOW, TTL, 0.0, exclusive=True)
    assert store.totals(KEY, NOW + TTL - 1) == Totals(0, 2)
    assert store.totals(KEY, NOW + TTL) == Totals(0, 0)


def test_holds_copied_into_a_forked_child_are_not_counted_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MemoryBudgetStore()
    assert hold(store, "parent", 4)
    parent = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)  # as seen in a forked child
    assert store.totals(KEY, NOW) == Totals(0, 0)
    assert hold(store, "child", 10)


# -- the refusal ----------------------------------------------------------------------------------


def test_a_refusal_says_what_is_left_and_what_the_run_would_cost() -> None:
    error = refusal(10, Totals(4, 3), 5, scope="client", what="a run of model 'm'")
    assert isinstance(error, BudgetExceededError)
    message = str(error)
    assert message.startswith("Not starting a run of model 'm': the credit budget of 10 ")
    assert "has 3 credits left and a run of model 'm' is expected to cost 5;" in message
    assert "4 counted so far (3 held by runs in flight)." in message
    assert (error.limit, error.spent, error.held, error.requested) == (10, 4, 3, 5)
    assert error.scope == "client"


def test_a_refusal_of_a_spent_batch_names_its_max_credits() -> None:
    error = refusal(10, Totals(10, 0), 2, scope="batch", what="a run")
    message = str(error)
    assert "the max_credits of this batch of 10 is spent;" in message
    assert "held by runs in flight" not in message
    assert message.endswith("is spent; 10 counted so far. Nothing was sent.")
    assert "credits left" not in message
    assert (error.limit, error.spent, error.held, error.scope) == (10, 10, 0, "batch")


def test_a_budget_taken_by_holds_alone_is_spent_and_never_shows_a_negative_left() -> None:
    message = str(refusal(10, Totals(0, 12), 1, scope="client", what="a run"))
    assert "credit budget of 10 is spent; 0 counted so far (12 held by runs in flight)" in message
    message = str(refusal(10, Totals(9.5, 0), 1, scope="client", what="a run"))
    assert "has 0.5 credits left and a run is expected to cost 1" in message


@pytest.mark.parametrize("spent", [1 - 1e-9, 1 - 1e-10])
def test_a_budget_within_a_billionth_of_a_credit_of_its_limit_is_spent(spent: float) -> None:
    assert "credit budget of 1 is spent" in str(refusal(1, Totals(spent, 0), 1, scope="", what=""))
    assert "is spent" not in str(refusal(1, Totals(1 - 1e-8, 0), 1, scope="", what=""))
