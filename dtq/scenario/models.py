"""The scenario file as pydantic models: every key known, every value checked.

Durations are stored in seconds (`Duration`). Unknown keys are errors.
Cross-references (an arrival naming an unknown task type ...) are checked in
`dtq.scenario.references`, which can point at the offending key.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from dtq.scenario.durations import Duration

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
KIND_PATTERN = r"^[a-z][a-z0-9_]*$"
MAX_TASKS = 50_000_000

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Rate = Annotated[float, Field(gt=0.0, le=10_000_000.0, allow_inf_nan=False)]
Priority = Annotated[int, Field(ge=1, le=10)]


class Model(BaseModel):
    """Base of every scenario model: unknown keys are errors, values are not coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Keys added to the format after its first version: the resolved scenario (written in
    # `run_started` and in baselines) carries them only when they differ from their
    # default, so a scenario that does not use a newer feature resolves exactly as before
    # and its log stays the same line for line. List every new key of a model here.
    LATER_KEYS: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_unused_later_keys(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if not self.LATER_KEYS or not isinstance(data, dict):
            return data
        fields = type(self).model_fields
        for name in self.LATER_KEYS:
            field = fields[name]
            if getattr(self, name) == field.get_default(call_default_factory=True):
                data.pop(name, None)
                if field.alias is not None:
                    data.pop(field.alias, None)
        return data


class Constant(Model):
    """Every attempt takes exactly `value`."""

    dist: Literal["constant"]
    value: Duration


class Uniform(Model):
    """Uniform between `low` and `high`."""

    dist: Literal["uniform"]
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _check_order(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be at least low")
        return self


class Exponential(Model):
    """Exponential with mean `mean` (the M in M/M/c)."""

    dist: Literal["exponential"]
    mean: Duration


class LogNormal(Model):
    """Log-normal with median `median` and shape `sigma` (the spread of log-durations)."""

    dist: Literal["lognormal"]
    median: Duration
    sigma: float = Field(gt=0.0, le=5.0, allow_inf_nan=False)


Distribution = Annotated[Constant | Uniform | Exponential | LogNormal, Field(discriminator="dist")]


class TaskType(Model):
    """One kind of job: its priority, how long it runs and how it fails."""

    priority: Priority = 5
    duration: Distribution = Field(default_factory=lambda: Constant(dist="constant", value=0.0))
    timeout: Duration | None = None
    failures: dict[Annotated[str, Field(pattern=KIND_PATTERN)], Probability] = Field(
        default_factory=dict
    )

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("timeout must be longer than 0s (leave it out for no timeout)")
        return value

    @field_validator("failures")
    @classmethod
    def _failures_sum(cls, value: dict[str, float]) -> dict[str, float]:
        total = math.fsum(value.values())
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"failure probabilities add up to {total:g}; they must add up to 1 or less"
            )
        return value


class Scheduler(Model):
    """How the ready queue orders work."""

    policy: Literal["priority", "fifo", "aging"] = "priority"
    aging_interval: Duration | None = None

    @model_validator(mode="after")
    def _aging(self) -> Scheduler:
        if self.policy == "aging" and (self.aging_interval is None or self.aging_interval <= 0):
            raise ValueError("policy aging needs aging_interval, for example aging_interval: 2s")
        if self.policy != "aging" and self.aging_interval is not None:
            raise ValueError(
                f"aging_interval is only used with policy: aging (policy is {self.policy}); "
                "remove it or set policy: aging"
            )
        return self


class Retry(Model):
    """When a failed attempt is tried again, and after how long."""

    max_attempts: int = Field(default=4, ge=1, le=1000)
    backoff: Literal["none", "fixed", "exponential"] = "exponential"
    base_delay: Duration = 0.1
    max_delay: Duration = 30.0
    jitter: Literal["none", "full", "equal"] = "none"
    retry_on: list[Annotated[str, Field(pattern=KIND_PATTERN)]] | None = None

    @model_validator(mode="after")
    def _delays(self) -> Retry:
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be at least base_delay")
        return self


class _Window(Model):
    """A time window [from, until) on the scenario clock."""

    start: Duration = Field(default=0.0, alias="from")
    until: Duration

    @model_validator(mode="after")
    def _order(self) -> _Window:
        if self.until <= self.start:
            raise ValueError("until must be later than from")
        return self


class PoissonArrival(_Window):
    """Random arrivals at `rate` per second on average (exponential gaps)."""

    pattern: Literal["poisson"]
    task: str
    rate: Rate


class ConstantArrival(_Window):
    """Evenly spaced arrivals at `rate` per second."""

    pattern: Literal["constant"]
    task: str
    rate: Rate


class RampArrival(_Window):
    """Evenly spaced arrivals whose rate moves linearly from `start_rate` to `end_rate`."""

    pattern: Literal["ramp"]
    task: str
    start_rate: float = Field(ge=0.0, le=10_000_000.0, allow_inf_nan=False)
    end_rate: float = Field(ge=0.0, le=10_000_000.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _some_rate(self) -> RampArrival:
        if self.start_rate == 0 and self.end_rate == 0:
            raise ValueError("a ramp needs start_rate or end_rate above 0")
        return self


class BurstArrival(Model):
    """`count` tasks at once at `at` (or spread evenly over `over`)."""

    pattern: Literal["burst"]
    task: str
    count: int = Field(ge=1, le=MAX_TASKS)
    at: Duration = 0.0
    over: Duration = 0.0


Arrival = Annotated[
    PoissonArrival | ConstantArrival | RampArrival | BurstArrival, Field(discriminator="pattern")
]


class Outage(_Window):
    """A window during which attempts fail with `error` at probability `rate`."""

    kind: Literal["outage"]
    error: Annotated[str, Field(pattern=KIND_PATTERN)]
    rate: Probability
    tasks: list[str] | None = None


class WorkerCrash(Model):
    """At `at`, `workers` busy workers die mid-task; they come back after `restart_after`."""

    kind: Literal["worker_crash"]
    at: Duration
    workers: int = Field(default=1, ge=1, le=100_000)
    restart_after: Duration | None = None


Fault = Annotated[Outage | WorkerCrash, Field(discriminator="kind")]


class Expect(Model):
    """Thresholds checked at the end of a run; a miss makes `dtq run` exit 1."""

    dlq_max: int | None = Field(default=None, ge=0)
    wait_p95: dict[Priority, Duration] | None = None
    completed_min: Probability | None = None


class Scenario(Model):
    """A whole scenario file."""

    name: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=100)
    description: str | None = None
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    clock: Literal["real", "virtual"] = "real"
    time_scale: float = Field(default=1.0, gt=0.0, le=1_000_000.0, allow_inf_nan=False)
    # backend comes before workers: the workers rule reads it.
    backend: str = Field(default="memory", pattern=r"^(memory|redis://.+)$")
    workers: int = Field(default=4, ge=0, le=4096)
    visibility_timeout: Duration = 5.0
    scheduler: Scheduler = Field(default_factory=Scheduler)
    retry: Retry = Field(default_factory=Retry)
    task_types: dict[Annotated[str, Field(pattern=KIND_PATTERN)], TaskType] = Field(min_length=1)
    arrivals: list[Arrival] = Field(min_length=1)
    faults: list[Fault] = Field(default_factory=list)
    expect: Expect = Field(default_factory=Expect)

    @field_validator("workers")
    @classmethod
    def _local_workers(cls, value: int, info: ValidationInfo) -> int:
        if value == 0 and info.data.get("backend", "memory") == "memory":
            raise ValueError(
                "must be at least 1 (got 0); workers: 0 is only for a redis backend, "
                "where `dtq worker` processes serve the queue"
            )
        return value
