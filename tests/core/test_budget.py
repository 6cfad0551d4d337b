"""Retry budgets: retries at most ratio x first attempts in the window, plus the reserve."""

from __future__ import annotations

from dtq.core.budget import Budgets, RetryBudget
from dtq.core.plan import BudgetSpec
from dtq.scenario.compile import compile_plan
from tests.helpers import scenario


def test_denies_exactly_when_the_ratio_is_exceeded() -> None:
    """With no reserve, 10 first attempts and ratio 0.2 allow 2 retries; the third is denied."""
    budget = RetryBudget(BudgetSpec(ratio=0.2, min_per_s=0.0, window_s=10.0))
    now = 0.0
    for _ in range(10):
        budget.deposit(now)
        now += 0.1
    assert budget.try_withdraw(now)
    assert budget.try_withdraw(now)
    assert not budget.try_withdraw(now)
    budget.deposit(now)  # 11 first attempts: still 2.2, so still only 2
    assert not budget.try_withdraw(now)
    for _ in range(4):  # 15 first attempts: 3.0 allows exactly one more
        budget.deposit(now)
    assert budget.try_withdraw(now)
    assert not budget.try_withdraw(now)


def test_the_reserve_allows_min_per_s_times_window_with_no_traffic() -> None:
    """min_per_s 2 over a 5 s window: 10 retries with no first attempt at all, not 11."""
    budget = RetryBudget(BudgetSpec(ratio=0.5, min_per_s=2.0, window_s=5.0))
    granted = [budget.try_withdraw(1.0) for _ in range(11)]
    assert granted == [True] * 10 + [False]


def test_the_window_slides_on_the_fake_clock() -> None:
    """Deposits and retries older than the window no longer count, either way."""
    budget = RetryBudget(BudgetSpec(ratio=1.0, min_per_s=0.0, window_s=10.0))
    budget.deposit(0.0)
    assert budget.try_withdraw(1.0)
    assert not budget.try_withdraw(2.0)
    # At t = 10.0 the deposit of t = 0 has left the window (0, 10]: nothing to spend.
    assert not budget.try_withdraw(10.0)
    budget.deposit(10.5)
    # The retry granted at t = 1 left at t = 11; the deposit of 10.5 pays for one more.
    assert budget.try_withdraw(11.0)
    assert not budget.try_withdraw(11.0)


def test_types_without_their_own_budget_share_the_scenarios() -> None:
    """Two types on the scenario's budget draw on one window; a type with its own does not."""
    model = scenario(
        retry={"budget": {"ratio": 1.0, "min_per_s": 0.0, "window": "10s"}},
        task_types={
            "a": {},
            "b": {},
            "c": {"retry": {"budget": {"ratio": 1.0, "min_per_s": 0.0, "window": "10s"}}},
        },
        arrivals=[{"pattern": "burst", "task": "a", "count": 1}],
    )
    budgets = Budgets(compile_plan(model))
    budgets.deposit("a", 0.0)
    assert budgets.allows_retry("b", 1.0), "b spends what a deposited"
    assert not budgets.allows_retry("a", 1.0)
    assert not budgets.allows_retry("c", 1.0), "c has its own, empty budget"
    budgets.deposit("c", 1.0)
    assert budgets.allows_retry("c", 1.0)


def test_no_budget_always_allows() -> None:
    """A scenario without a budget never denies a retry, and has nothing to keep."""
    budgets = Budgets(compile_plan(scenario()))
    assert not budgets
    assert budgets.allows_retry("job", 0.0)
