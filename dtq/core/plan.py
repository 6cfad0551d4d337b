"""The core's plan of a run: plain runtime objects the scheduler reads on its hot path.

`dtq.scenario.compile` builds a Plan from a validated scenario; the core never sees
the scenario's pydantic models. Choices are made once, when the plan is built: a task
type's duration sampler is picked by its distribution then, not branched on every draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dtq.core.dependency import DependencySpec
from dtq.core.draws import STREAM_DURATION, standard_normal, uniform
from dtq.events import ERROR_CRASH

# -- durations: one sampler class per distribution ---------------------------------------


@dataclass(frozen=True, slots=True)
class ConstantDuration:
    """Every attempt takes `value_s`."""

    value_s: float

    def sample(self, key: int, attempt: int) -> float:
        """The duration of one attempt (no draw needed)."""
        return self.value_s


@dataclass(frozen=True, slots=True)
class UniformDuration:
    """Uniform between `low_s` and `high_s`."""

    low_s: float
    high_s: float

    def sample(self, key: int, attempt: int) -> float:
        """The duration of one attempt, drawn from (task key, attempt)."""
        return self.low_s + (self.high_s - self.low_s) * uniform(key, attempt, STREAM_DURATION)


@dataclass(frozen=True, slots=True)
class ExponentialDuration:
    """Exponential with mean `mean_s`."""

    mean_s: float

    def sample(self, key: int, attempt: int) -> float:
        """The duration of one attempt, drawn from (task key, attempt)."""
        return -self.mean_s * math.log(1.0 - uniform(key, attempt, STREAM_DURATION))


@dataclass(frozen=True, slots=True)
class LogNormalDuration:
    """Log-normal with median `median_s` and shape `sigma`."""

    median_s: float
    sigma: float

    def sample(self, key: int, attempt: int) -> float:
        """The duration of one attempt, drawn from (task key, attempt)."""
        z = standard_normal(key, attempt)
        return self.median_s * math.exp(self.sigma * z)


@dataclass(frozen=True, slots=True)
class NormalDuration:
    """Normal with mean `mean_s` and standard deviation `sd_s`, folded at 0 (|x|)."""

    mean_s: float
    sd_s: float

    def sample(self, key: int, attempt: int) -> float:
        """The duration of one attempt, drawn from (task key, attempt)."""
        z = standard_normal(key, attempt)
        return abs(self.mean_s + self.sd_s * z)


Duration = (
    ConstantDuration | UniformDuration | ExponentialDuration | LogNormalDuration | NormalDuration
)


# -- steps: an attempt made of local work and calls to dependencies ------------------------


@dataclass(frozen=True, slots=True)
class WorkStep:
    """Local work inside an attempt."""

    duration: Duration


@dataclass(frozen=True, slots=True)
class CallStep:
    """A call to dependency number `dependency`, whose service takes `latency` (the
    step's own, else the dependency's: `dtq.scenario.compile` resolves it)."""

    dependency: int
    latency: Duration


Step = WorkStep | CallStep


@dataclass(frozen=True, slots=True)
class DependencyPlan:
    """A dependency: its limits, and the latency of a call to it."""

    spec: DependencySpec
    latency: Duration


@dataclass(frozen=True, slots=True)
class DependencyFault:
    """A window in which a dependency slows down (`slowdown`) or fails calls (`outage`)."""

    index: int
    kind: str
    dependency: int
    start_s: float
    until_s: float
    capacity: float = 1.0
    latency: float = 1.0
    error: str = ""
    rate: float = 0.0


@dataclass(frozen=True, slots=True)
class TaskKind:
    """A task type, ready for fast draws."""

    index: int
    name: str
    priority: int
    duration: Duration
    timeout_s: float | None
    failures: tuple[tuple[str, float], ...]
    steps: tuple[Step, ...] | None = None
    expires_s: float | None = None

    def is_instant(self) -> bool:
        """Whether every attempt takes no time at all (a constant duration of 0)."""
        return isinstance(self.duration, ConstantDuration) and self.duration.value_s == 0.0


# -- arrivals: one spec class per pattern -------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoissonArrivals:
    """Random arrivals of `task` at `rate` per second in [start_s, until_s)."""

    task: str
    start_s: float
    until_s: float
    rate: float


@dataclass(frozen=True, slots=True)
class ConstantArrivals:
    """Evenly spaced arrivals of `task` at `rate` per second in [start_s, until_s)."""

    task: str
    start_s: float
    until_s: float
    rate: float


@dataclass(frozen=True, slots=True)
class RampArrivals:
    """Arrivals of `task` whose rate moves linearly from `start_rate` to `end_rate`."""

    task: str
    start_s: float
    until_s: float
    start_rate: float
    end_rate: float


@dataclass(frozen=True, slots=True)
class BurstArrivals:
    """`count` arrivals of `task` from `at_s`, spread evenly over `over_s`."""

    task: str
    count: int
    at_s: float
    over_s: float


ArrivalSpec = PoissonArrivals | ConstantArrivals | RampArrivals | BurstArrivals


# -- faults and retries ---------------------------------------------------------------------


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
    """Everything the core needs from a scenario, with no pydantic on the hot path."""

    seed: int
    workers: int
    policy: str
    aging_interval_s: float
    retry: RetryPolicy
    kinds: dict[str, TaskKind]
    arrivals: tuple[ArrivalSpec, ...]
    outages: tuple[OutageWindow, ...]
    crashes: tuple[CrashFault, ...]
    kind_retry: dict[str, RetryPolicy] = field(default_factory=dict)
    dependencies: tuple[DependencyPlan, ...] = ()
    dependency_faults: tuple[DependencyFault, ...] = ()

    def retry_for(self, kind: str) -> RetryPolicy:
        """The retry policy of task type `kind` (its own block over the scenario's)."""
        return self.kind_retry.get(kind, self.retry)

    def has_steps(self) -> bool:
        """Whether any task type is made of steps (calls to dependencies)."""
        return any(kind.steps is not None for kind in self.kinds.values())

    def most_attempts(self) -> int:
        """The largest max_attempts of any task type: what a log's reader may see at most."""
        return max([self.retry.max_attempts, *(p.max_attempts for p in self.kind_retry.values())])
