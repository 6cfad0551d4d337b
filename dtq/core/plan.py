"""A scenario compiled into plain runtime objects the scheduler reads on its hot path."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dtq.core.draws import STREAM_DURATION, STREAM_DURATION_2, standard_normal, uniform
from dtq.events import ERROR_CRASH
from dtq.scenario.models import (
    Constant,
    Exponential,
    LogNormal,
    Outage,
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
class RetryPolicy:
    """The retry section of a scenario, in seconds."""

    max_attempts: int
    backoff: str
    base_delay_s: float
    max_delay_s: float
    jitter: str
    retry_on: frozenset[str] | None

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
    r = model.retry
    retry = RetryPolicy(
        max_attempts=r.max_attempts,
        backoff=r.backoff,
        base_delay_s=r.base_delay,
        max_delay_s=r.max_delay,
        jitter=r.jitter,
        retry_on=frozenset(r.retry_on) if r.retry_on is not None else None,
    )
    return Plan(
        seed=model.seed,
        workers=model.workers,
        policy=model.scheduler.policy,
        aging_interval_s=model.scheduler.aging_interval or 0.0,
        retry=retry,
        kinds=kinds,
        outages=tuple(outages),
        crashes=tuple(crashes),
    )
