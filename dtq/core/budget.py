"""Retry budgets (Finagle's RetryBudget idea): retries may be only a share of first attempts.

A budget counts the first attempts started and the retries granted in a sliding window
of `window_s` seconds. A retry is granted while the retries in the window, this one
included, are at most `ratio` x the first attempts in the window plus `min_per_s` x
`window_s` (the reserve that lets a quiet client retry at all). A denied retry is not
retried: the task is dead-lettered with reason `budget`. Only first attempts deposit:
a retry storm cannot pay for itself.
"""

from __future__ import annotations

from collections import deque

from dtq.core.plan import BudgetSpec, Plan

# Counts are whole numbers and the allowance a product of floats: a hair of slack keeps
# "exactly at the limit" on the granted side.
_SLACK = 1e-9


class RetryBudget:
    """One budget's sliding window of first attempts and granted retries."""

    def __init__(self, spec: BudgetSpec) -> None:
        self.spec = spec
        self._reserve = spec.min_per_s * spec.window_s
        self._firsts: deque[float] = deque()
        self._retries: deque[float] = deque()

    def deposit(self, now: float) -> None:
        """A first attempt started at `now`."""
        self._firsts.append(now)

    def try_withdraw(self, now: float) -> bool:
        """Grant a retry at `now` if the budget allows it (and count it), else False."""
        self._forget_before(now - self.spec.window_s)
        allowed = self.spec.ratio * len(self._firsts) + self._reserve
        if len(self._retries) + 1 > allowed + _SLACK:
            return False
        self._retries.append(now)
        return True

    def _forget_before(self, start: float) -> None:
        """Drop what happened at or before `start`: the window is (now - window, now]."""
        for times in (self._firsts, self._retries):
            while times and times[0] <= start:
                times.popleft()


class Budgets:
    """Every budget of a run, by task type: types without their own share the scenario's."""

    def __init__(self, plan: Plan) -> None:
        by_owner: dict[str, RetryBudget] = {}
        self._by_kind: dict[str, RetryBudget] = {}
        for name in plan.kinds:
            spec = plan.retry_for(name).budget
            if spec is None:
                continue
            if spec.owner not in by_owner:
                by_owner[spec.owner] = RetryBudget(spec)
            self._by_kind[name] = by_owner[spec.owner]

    def __bool__(self) -> bool:
        return bool(self._by_kind)

    def deposit(self, kind: str, now: float) -> None:
        """A first attempt of a task of type `kind` started at `now`."""
        budget = self._by_kind.get(kind)
        if budget is not None:
            budget.deposit(now)

    def allows_retry(self, kind: str, now: float) -> bool:
        """Whether a task of type `kind` may retry at `now` (True when it has no budget)."""
        budget = self._by_kind.get(kind)
        return budget is None or budget.try_withdraw(now)
