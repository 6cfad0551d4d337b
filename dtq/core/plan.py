"""A scenario compiled into plain runtime objects the scheduler reads on its hot path."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dtq.core.draws import STREAM_DURATION, STREAM_DURATION_2, standard_normal, uniform
from dtq.events import ERROR_CRASH
from dtq.scenario.models import (
    Constant,
    Exponential,
    LogNormal,
    Normal,
    Outage,
    Retry,
    Scenario,
    Uniform,
    WorkerCrash,
)


@dataclass(frozen=True, slots=True)
class TaskKind:
    """A task type, ready for fast draws."""

    index: int
    name: str
    priority: int
    dist: str
    a: float
    b: float
    timeout_s: float | None
    failures: tuple[tuple[str, float], ...]

    def duration_s(self, key: int, attempt: int) -> float:
        """How long this attempt runs, drawn from (task key, attempt)."""
        dist = self.dist
        if dist == "constant":
            return self.a
        u = uniform(key, attempt, STREAM_DURATION)
        if dist == "exponential":
            return -self.a * math.log(1.0 - u)
        if dist == "uniform":
            return self.a + (self.b - self.a) * u
        z = standard_normal(u, uniform(key, attempt, STREAM_DURATION_2))
        if dist == "normal":
            return abs(self.a + self.b * z)
        return self.a * math.exp(self.b * z)


@dataclass(frozen=True, slots=True)
class OutageWindow:
    """Attempts started in [start_s, until_s) fail with `error` at probability at least `rate`."""

    index: int
    start_s: float
    until_s: float
    error: str
    rate: float
    kinds: frozenset[str] | None

    def applies(self, kind: str, now: float) -> bool:
        """True when this outage covers an attempt of `kind` starting at `now`."""
        return self.start_s <= now < self.until_s and (self.kinds is None or kind in self.kinds)


@dataclass(frozen=True, slots=True)
class CrashFault:
    """At `at_s`, `workers` workers die mid-task; they return after `restart_after_s`."""

    index: int
    at_s: float
    workers: int
    restart_after_s: float | None


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """A retry budget: retries in a window at most ratio x first attempts + min_per_s x window.

    `owner` names whose budget it is: "" for the scenario's (shared by every task type that
    does not set its own), else the task type that set it.
    """

    ratio: float
    min_per_s: float
    window_s: float
    owner: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry section of a scenario (or a task type's own), in seconds."""

    max_attempts: int
    backoff: str
    base_delay_s: float
    max_delay_s: float
    jitter: str
    retry_on: frozenset[str] | None
    multiplier: float = 2.0
    exponent: float = 4.0
    delays_s: tuple[float, ...] = ()
    resolution_s: float = 0.0
    budget: BudgetSpec | None = None

    def is_retryable(self, error: str) -> bool:
        """A crash is always retried (the task did nothing wrong); others per `retry_on`."""
        return error == ERROR_CRASH or self.retry_on is None or error in self.retry_on


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the scheduler needs from a scenario, with no pydantic on the hot path."""

    seed: int
    workers: int
    policy: str
    aging_interval_s: float
    retry: RetryPolicy
    kinds: dict[str, TaskKind]
    outages: tuple[OutageWindow, ...]
    crashes: tuple[CrashFault, ...]
    kind_retry: dict[str, RetryPolicy] = field(default_factory=dict)

    def retry_for(self, kind: str) -> RetryPolicy:
        """The retry policy of task type `kind` (its own block over the scenario's)."""
        return self.kind_retry.get(kind, self.retry)

    def most_attempts(self) -> int:
        """The largest max_attempts of any task type: what a log's reader may see at most."""
        return max([self.retry.max_attempts, *(p.max_attempts for p in self.kind_retry.values())])


def _kind(index: int, name: str, model: Scenario) -> TaskKind:
    spec = model.task_types[name]
    dur = spec.duration
    a = b = 0.0
    if isinstance(dur, Constant):
        a = dur.value
    elif isinstance(dur, Uniform):
        a, b = dur.low, dur.high
    elif isinstance(dur, Exponential):
        a = dur.mean
    elif isinstance(dur, LogNormal):
        a, b = dur.median, dur.sigma
    elif isinstance(dur, Normal):
        a, b = dur.mean, dur.sd
    failures = tuple((kind, p) for kind, p in sorted(spec.failures.items()) if p > 0)
    return TaskKind(index, name, spec.priority, dur.dist, a, b, spec.timeout, failures)


def compile_plan(model: Scenario) -> Plan:
    """Compile a validated scenario into a Plan."""
    kinds = {name: _kind(i, name, model) for i, name in enumerate(model.task_types)}
    outages: list[OutageWindow] = []
    crashes: list[CrashFault] = []
    for index, fault in enumerate(model.faults):
        if isinstance(fault, Outage):
            covered = frozenset(fault.tasks) if fault.tasks is not None else None
            outages.append(
                OutageWindow(index, fault.start, fault.until, fault.error, fault.rate, covered)
            )
        elif isinstance(fault, WorkerCrash):
            crashes.append(CrashFault(index, fault.at, fault.workers, fault.restart_after))
    retry = retry_policy(model.retry)
    kind_retry = {
        name: retry_policy(model.retry_for(name), budget_owner=_budget_owner(name, model))
        for name, spec in model.task_types.items()
        if spec.retry is not None
    }
    return Plan(
        seed=model.seed,
        workers=model.workers,
        policy=model.scheduler.policy,
        aging_interval_s=model.scheduler.aging_interval or 0.0,
        retry=retry,
        kinds=kinds,
        outages=tuple(outages),
        crashes=tuple(crashes),
        kind_retry=kind_retry,
    )


def _budget_owner(name: str, model: Scenario) -> str:
    """`name` when the task type sets its own budget, else "" (it shares the scenario's)."""
    override = model.task_types[name].retry
    return name if override is not None and override.budget is not None else ""


def retry_policy(r: Retry, *, budget_owner: str = "") -> RetryPolicy:
    """A validated retry block as a RetryPolicy, its budget (if any) owned by `budget_owner`."""
    budget = None
    if r.budget is not None:
        budget = BudgetSpec(r.budget.ratio, r.budget.min_per_s, r.budget.window, budget_owner)
    return RetryPolicy(
        max_attempts=r.max_attempts,
        backoff=r.backoff,
        base_delay_s=r.base_delay,
        max_delay_s=r.max_delay,
        jitter=r.jitter,
        retry_on=frozenset(r.retry_on) if r.retry_on is not None else None,
        multiplier=r.multiplier if r.multiplier is not None else 2.0,
        exponent=r.exponent if r.exponent is not None else 4.0,
        delays_s=tuple(r.delays or ()),
        resolution_s=r.resolution or 0.0,
        budget=budget,
    )
