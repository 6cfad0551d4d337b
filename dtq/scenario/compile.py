"""Compile a validated scenario into the core's plan (the core imports no pydantic)."""

from __future__ import annotations

from dtq.core.dependency import DependencySpec
from dtq.core.plan import (
    ArrivalSpec,
    BudgetSpec,
    BurstArrivals,
    CallStep,
    ConstantArrivals,
    ConstantDuration,
    CrashFault,
    DependencyFault,
    DependencyPlan,
    Duration,
    ExponentialDuration,
    LogNormalDuration,
    NormalDuration,
    OutageWindow,
    Plan,
    PoissonArrivals,
    RampArrivals,
    RetryPolicy,
    Step,
    TaskKind,
    UniformDuration,
    WorkStep,
)
from dtq.scenario.models import (
    Arrival,
    BurstArrival,
    Constant,
    ConstantArrival,
    Distribution,
    Exponential,
    LogNormal,
    Outage,
    PoissonArrival,
    RampArrival,
    Retry,
    Scenario,
    Slowdown,
    Uniform,
    WorkerCrash,
)
from dtq.scenario.models import CallStep as CallStepModel
from dtq.scenario.models import Dependency as DependencyModel
from dtq.scenario.models import WorkStep as WorkStepModel


def _duration(dur: Distribution | float) -> Duration:
    if isinstance(dur, float | int):
        return ConstantDuration(float(dur))
    if isinstance(dur, Constant):
        return ConstantDuration(dur.value)
    if isinstance(dur, Uniform):
        return UniformDuration(dur.low, dur.high)
    if isinstance(dur, Exponential):
        return ExponentialDuration(dur.mean)
    if isinstance(dur, LogNormal):
        return LogNormalDuration(dur.median, dur.sigma)
    return NormalDuration(dur.mean, dur.sd)


def _kind(index: int, name: str, model: Scenario) -> TaskKind:
    spec = model.task_types[name]
    failures = tuple((kind, p) for kind, p in sorted(spec.failures.items()) if p > 0)
    steps = _steps(spec.steps, model) if spec.steps is not None else None
    duration = _duration(spec.duration)
    return TaskKind(
        index, name, spec.priority, duration, spec.timeout, failures, steps, spec.expires
    )


def _steps(steps: list[WorkStepModel | CallStepModel], model: Scenario) -> tuple[Step, ...]:
    names = list(model.dependencies)
    compiled: list[Step] = []
    for step in steps:
        if isinstance(step, CallStepModel):
            # The step's own latency, else its dependency's: resolved here, once.
            latency = (
                step.latency if step.latency is not None else model.dependencies[step.call].latency
            )
            compiled.append(CallStep(names.index(step.call), _duration(latency)))
        else:
            compiled.append(WorkStep(_duration(step.work)))
    return tuple(compiled)


def _dependency(index: int, name: str, dep: DependencyModel) -> DependencyPlan:
    limit = dep.rate_limit
    spec = DependencySpec(
        index=index,
        name=name,
        concurrency=dep.concurrency,
        queue_limit=dep.queue_limit,
        rate_per_s=limit.rate if limit is not None else None,
        burst=float(limit.burst) if limit is not None else 1.0,
        cancels_abandoned=dep.abandoned == "cancel",
        optimistic=dep.mode == "optimistic",
    )
    return DependencyPlan(spec, _duration(dep.latency))


def _dependency_faults(model: Scenario) -> tuple[DependencyFault, ...]:
    names = list(model.dependencies)
    faults: list[DependencyFault] = []
    for index, fault in enumerate(model.faults):
        if isinstance(fault, Slowdown):
            dep = names.index(fault.dependency)
            faults.append(
                DependencyFault(
                    index, "slowdown", dep, fault.start, fault.until, fault.capacity, fault.latency
                )
            )
        elif isinstance(fault, Outage) and fault.dependency is not None:
            dep = names.index(fault.dependency)
            faults.append(
                DependencyFault(
                    index,
                    "outage",
                    dep,
                    fault.start,
                    fault.until,
                    error=fault.error,
                    rate=fault.rate,
                )
            )
    return tuple(faults)


def _arrival(spec: Arrival) -> ArrivalSpec:
    if isinstance(spec, PoissonArrival):
        return PoissonArrivals(spec.task, spec.start, spec.until, spec.rate)
    if isinstance(spec, ConstantArrival):
        return ConstantArrivals(spec.task, spec.start, spec.until, spec.rate)
    if isinstance(spec, RampArrival):
        return RampArrivals(spec.task, spec.start, spec.until, spec.start_rate, spec.end_rate)
    assert isinstance(spec, BurstArrival)
    return BurstArrivals(spec.task, spec.count, spec.at, spec.over)


def _faults(model: Scenario) -> tuple[tuple[OutageWindow, ...], tuple[CrashFault, ...]]:
    outages: list[OutageWindow] = []
    crashes: list[CrashFault] = []
    for index, fault in enumerate(model.faults):
        if isinstance(fault, Outage) and fault.dependency is None:
            covered = frozenset(fault.tasks) if fault.tasks is not None else None
            outages.append(
                OutageWindow(index, fault.start, fault.until, fault.error, fault.rate, covered)
            )
        elif isinstance(fault, WorkerCrash):
            crashes.append(CrashFault(index, fault.at, fault.workers, fault.restart_after))
    return tuple(outages), tuple(crashes)


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


def _budget_owner(name: str, model: Scenario) -> str:
    """`name` when the task type sets its own budget, else "" (it shares the scenario's)."""
    override = model.task_types[name].retry
    return name if override is not None and override.budget is not None else ""


def compile_plan(model: Scenario) -> Plan:
    """Compile a validated scenario into the core's Plan."""
    outages, crashes = _faults(model)
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
        retry=retry_policy(model.retry),
        kinds={name: _kind(i, name, model) for i, name in enumerate(model.task_types)},
        arrivals=tuple(_arrival(spec) for spec in model.arrivals),
        outages=outages,
        crashes=crashes,
        kind_retry=kind_retry,
        dependencies=tuple(
            _dependency(i, name, dep) for i, (name, dep) in enumerate(model.dependencies.items())
        ),
        dependency_faults=_dependency_faults(model),
    )
