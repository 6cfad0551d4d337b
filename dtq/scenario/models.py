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
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from dtq.scenario.durations import SECONDS_CONTEXT, Duration
from dtq.scenario.presets import PresetName, with_preset

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
KIND_PATTERN = r"^[a-z][a-z0-9_]*$"
MAX_TASKS = 50_000_000

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Rate = Annotated[float, Field(gt=0.0, le=10_000_000.0, allow_inf_nan=False)]
Priority = Annotated[int, Field(ge=1, le=10)]
NonNegative = Annotated[int, Field(ge=0)]


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


class Normal(Model):
    """Normal with mean `mean` and standard deviation `sd`; a negative draw is reflected (|x|)."""

    dist: Literal["normal"]
    mean: Duration
    sd: Duration


Distribution = Annotated[
    Constant | Uniform | Exponential | LogNormal | Normal, Field(discriminator="dist")
]


# Tags of the unions chosen by the shape of the value rather than by a key: messages
# leave them out of the path they show (`steps.0.work`, not `steps.0._work_step.work`).
STRUCTURAL_TAGS = frozenset(
    {"_distribution", "_fixed", "_work_step", "_call_step", "_count", "_by_reason"}
)


def _fixed_or_distribution(value: Any) -> str:
    return "_distribution" if isinstance(value, dict | BaseModel) else "_fixed"


# A time written as a duration (`2ms`: always that long) or as a distribution.
TimeSpec = Annotated[
    Annotated[Distribution, Tag("_distribution")] | Annotated[Duration, Tag("_fixed")],
    Discriminator(_fixed_or_distribution),
]


class WorkStep(Model):
    """Local work inside an attempt: a fixed time (`work: 2ms`) or a distribution."""

    work: TimeSpec


class CallStep(Model):
    """A call to a dependency: wait for a slot, then hold it for the call's latency."""

    call: Annotated[str, Field(pattern=KIND_PATTERN)]
    latency: TimeSpec | None = None


def _step_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "_call_step" if "call" in value else "_work_step"
    return "_call_step" if isinstance(value, CallStep) else "_work_step"


Step = Annotated[
    Annotated[WorkStep, Tag("_work_step")] | Annotated[CallStep, Tag("_call_step")],
    Discriminator(_step_kind),
]


class TaskType(Model):
    """One kind of job: its priority, how long it runs and how it fails."""

    LATER_KEYS: ClassVar[frozenset[str]] = frozenset({"retry", "steps", "expires"})

    priority: Priority = 5
    duration: Distribution = Field(default_factory=lambda: Constant(dist="constant", value=0.0))
    timeout: Duration | None = None
    failures: dict[Annotated[str, Field(pattern=KIND_PATTERN)], Probability] = Field(
        default_factory=dict
    )
    retry: RetryOverride | None = None
    steps: list[Step] | None = Field(default=None, min_length=1)
    expires: Duration | None = None

    @model_validator(mode="after")
    def _steps_or_duration(self) -> TaskType:
        # A re-validated resolved scenario carries the default duration: that is not a clash.
        no_duration = Constant(dist="constant", value=0.0)
        if self.steps is not None and self.duration != no_duration:
            raise ValueError(
                "give either duration or steps, not both (steps describe the whole attempt)"
            )
        return self

    @field_validator("expires", "timeout")
    @classmethod
    def _positive(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and value <= 0:
            name = info.field_name
            none = "no expiry" if name == "expires" else f"no {name}"
            raise ValueError(f"{name} must be longer than 0s (leave it out for {none})")
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


class RateLimit(Model):
    """A token bucket: `rate` tokens a second, at most `burst` saved up."""

    rate: Rate
    burst: int = Field(default=1, ge=1, le=10_000_000)


class Dependency(Model):
    """A downstream that task steps call, with limited capacity."""

    concurrency: int | None = Field(default=None, ge=1, le=1_000_000)
    latency: TimeSpec = 0.0
    queue_limit: int | None = Field(default=None, ge=0, le=100_000_000)
    rate_limit: RateLimit | None = None
    abandoned: Literal["continue", "cancel"] = "continue"
    mode: Literal["serve", "optimistic"] = "serve"


class SchedulerSettings(Model):
    """How the ready queue orders work."""

    policy: Literal["priority", "fifo", "aging"] = "priority"
    aging_interval: Duration | None = None

    @model_validator(mode="after")
    def _aging(self) -> SchedulerSettings:
        if self.policy == "aging" and (self.aging_interval is None or self.aging_interval <= 0):
            raise ValueError("policy aging needs aging_interval, for example aging_interval: 2s")
        if self.policy != "aging" and self.aging_interval is not None:
            raise ValueError(
                f"aging_interval is only used with policy: aging (policy is {self.policy}); "
                "remove it or set policy: aging"
            )
        return self


class Budget(Model):
    """Finagle's RetryBudget: retries at most ratio x first attempts in a window, plus a reserve."""

    ratio: float = Field(default=0.2, ge=0.0, le=1000.0, allow_inf_nan=False)
    min_per_s: float = Field(default=10.0, ge=0.0, le=1_000_000.0, allow_inf_nan=False)
    window: Duration = 10.0

    @field_validator("window")
    @classmethod
    def _window_length(cls, value: float) -> float:
        if not 0 < value <= 3600:
            raise ValueError(f"must be longer than 0s and at most 1h (got {value:g}s)")
        return value


Backoff = Literal["none", "fixed", "exponential", "polynomial", "delays"]
Jitter = Literal["none", "full", "equal", "decorrelated", "sidekiq"]
RetryOn = list[Annotated[str, Field(pattern=KIND_PATTERN)]]
Multiplier = Annotated[float, Field(gt=1.0, le=100.0, allow_inf_nan=False)]
Exponent = Annotated[float, Field(gt=0.0, le=10.0, allow_inf_nan=False)]
Delays = Annotated[list[Duration], Field(min_length=1, max_length=1000)]
MaxAttempts = Annotated[int, Field(ge=1, le=1000)]
_DEFAULT_BASE_DELAY_S = 0.1
_DEFAULT_MAX_DELAY_S = 30.0


def _combination_problem(retry: Retry) -> str | None:
    """The first key that does not fit with the others, said with its fix; None if they fit."""
    if retry.delays is not None and retry.backoff != "delays":
        return f"backoff {retry.backoff} and delays both set the schedule: give one of them"
    if retry.backoff == "delays" and retry.delays is None:
        return "backoff delays needs the list itself, for example delays: [1s, 10s, 60s]"
    if retry.backoff == "delays" and (
        retry.base_delay != _DEFAULT_BASE_DELAY_S or retry.max_delay != _DEFAULT_MAX_DELAY_S
    ):
        return (
            "base_delay and max_delay shape computed delays, not an explicit delays list; "
            "remove them (each retry waits its value in delays)"
        )
    if retry.multiplier is not None and retry.backoff != "exponential":
        return f"multiplier is only used with backoff: exponential (backoff is {retry.backoff})"
    if retry.exponent is not None and retry.backoff != "polynomial":
        return f"exponent is only used with backoff: polynomial (backoff is {retry.backoff})"
    if retry.jitter == "decorrelated" and (
        retry.delays is not None or retry.multiplier is not None or retry.backoff != "exponential"
    ):
        return (
            "jitter decorrelated draws each delay from base_delay up to 3 x the previous one, "
            "capped at max_delay; use it with backoff: exponential, without multiplier or delays"
        )
    return None


class _WithPreset(Model):
    """A retry block or a task type's retry keys: a `preset` fills the keys left unset."""

    preset: PresetName | None = None

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        return with_preset(data)


class Retry(_WithPreset):
    """When a failed attempt is tried again, and after how long (a preset fills unset keys)."""

    LATER_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"preset", "multiplier", "exponent", "delays", "resolution", "budget"}
    )

    max_attempts: MaxAttempts = 4
    backoff: Backoff = "exponential"
    base_delay: Duration = _DEFAULT_BASE_DELAY_S
    max_delay: Duration = _DEFAULT_MAX_DELAY_S
    multiplier: Multiplier | None = None
    exponent: Exponent | None = None
    jitter: Jitter = "none"
    delays: Delays | None = None
    resolution: Duration | None = None
    retry_on: RetryOn | None = None
    budget: Budget | None = None

    @model_validator(mode="after")
    def _delays(self) -> Retry:
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be at least base_delay")
        problem = _combination_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self


class RetryOverride(_WithPreset):
    """A task type's own retry keys; the ones left out come from the scenario's retry block."""

    LATER_KEYS: ClassVar[frozenset[str]] = frozenset(
        {
            "preset",
            "max_attempts",
            "backoff",
            "base_delay",
            "max_delay",
            "multiplier",
            "exponent",
            "jitter",
            "delays",
            "resolution",
            "retry_on",
            "budget",
        }
    )

    max_attempts: MaxAttempts | None = None
    backoff: Backoff | None = None
    base_delay: Duration | None = None
    max_delay: Duration | None = None
    multiplier: Multiplier | None = None
    exponent: Exponent | None = None
    jitter: Jitter | None = None
    delays: Delays | None = None
    resolution: Duration | None = None
    retry_on: RetryOn | None = None
    budget: Budget | None = None


def merged_retry_data(base: Retry, override: RetryOverride) -> dict[str, Any]:
    """The scenario's retry block with a task type's keys laid over it, ready to validate.

    Durations are in seconds: validate it under `SECONDS_CONTEXT`. A type that names a
    preset keeps only the scenario's `retry_on` and `budget`; one that sets its own schedule
    shape (`backoff` or `delays`) drops the scenario's shape keys, as a preset's are.
    """
    data: dict[str, Any] = base.model_dump()
    own = {key: getattr(override, key) for key in override.model_fields_set}
    if "preset" in own:  # the type behaves as that system: only what to retry and the budget stay
        data = {key: data[key] for key in ("retry_on", "budget") if key in data}
    elif "backoff" in own or "delays" in own:
        for key in ("backoff", "delays", "multiplier", "exponent"):
            data.pop(key, None)
        if "delays" in own:  # a list of delays has no base or cap
            data.pop("base_delay", None)
            data.pop("max_delay", None)
    if isinstance(own.get("budget"), Budget):
        own["budget"] = own["budget"].model_dump()
    data.update(own)
    if "delays" in data and "backoff" not in data:
        data["backoff"] = "delays"
    return data


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
    """A window during which attempts (or calls to `dependency`) fail with `error` at `rate`."""

    LATER_KEYS: ClassVar[frozenset[str]] = frozenset({"dependency"})

    kind: Literal["outage"]
    error: Annotated[str, Field(pattern=KIND_PATTERN)] = "unavailable"
    rate: Probability = 1.0
    tasks: list[str] | None = None
    dependency: Annotated[str, Field(pattern=KIND_PATTERN)] | None = None

    @model_validator(mode="after")
    def _error_named(self) -> Outage:
        if self.dependency is None and "error" not in self.model_fields_set:
            raise ValueError(
                "an outage of task types needs error (the error kind its attempts fail with), "
                "for example error: network"
            )
        if self.dependency is not None and self.tasks is not None:
            raise ValueError("an outage of a dependency covers every call to it; remove tasks")
        return self


class Slowdown(_Window):
    """A window during which a dependency has fewer slots and answers more slowly."""

    kind: Literal["slowdown"]
    dependency: Annotated[str, Field(pattern=KIND_PATTERN)]
    capacity: float = Field(default=1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    latency: float = Field(default=1.0, ge=1.0, le=1_000_000.0, allow_inf_nan=False)


class WorkerCrash(Model):
    """At `at`, `workers` busy workers die mid-task; they come back after `restart_after`."""

    kind: Literal["worker_crash"]
    at: Duration
    workers: int = Field(default=1, ge=1, le=100_000)
    restart_after: Duration | None = None


Fault = Annotated[Outage | WorkerCrash | Slowdown, Field(discriminator="kind")]


def _count_or_by_reason(value: Any) -> str:
    return "_by_reason" if isinstance(value, dict) else "_count"


# `dlq_max: 10` caps all dead letters; `dlq_max: {budget: 10}` caps each reason named.
DlqCap = Annotated[
    Annotated[NonNegative, Tag("_count")]
    | Annotated[dict[Annotated[str, Field(pattern=KIND_PATTERN)], NonNegative], Tag("_by_reason")],
    Discriminator(_count_or_by_reason),
]


class Expect(Model):
    """Thresholds checked at the end of a run; a miss makes `dtq run` exit 1."""

    LATER_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"recover_within", "amplification_max", "e2e_p95"}
    )

    # A number caps every dead letter; a mapping caps each reason (`{budget: 10}`).
    dlq_max: DlqCap | None = None
    wait_p95: dict[Priority, Duration] | None = None
    completed_min: Probability | None = None
    recover_within: Duration | None = None
    amplification_max: float | None = Field(default=None, ge=1.0, le=1000.0, allow_inf_nan=False)
    e2e_p95: dict[Priority, Duration] | None = None


class Scenario(Model):
    """A whole scenario file."""

    LATER_KEYS: ClassVar[frozenset[str]] = frozenset({"dependencies", "warmup", "redis_namespace"})

    name: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=100)
    description: str | None = None
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    clock: Literal["real", "virtual"] = "real"
    time_scale: float = Field(default=1.0, gt=0.0, le=1_000_000.0, allow_inf_nan=False)
    # backend comes before workers: the workers rule reads it.
    backend: str = Field(default="memory", pattern=r"^(memory|redis://.+)$")
    # The redis backend's key prefix, unless $DTQ_REDIS_NAMESPACE is set; None: `dtq`.
    redis_namespace: str | None = Field(default=None, pattern=r"^\S+$", max_length=100)
    workers: int = Field(default=4, ge=0, le=4096)
    visibility_timeout: Duration = 5.0
    # Tasks submitted before `warmup` count in totals but not in wait statistics.
    warmup: Duration = 0.0
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    retry: Retry = Field(default_factory=Retry)
    dependencies: dict[Annotated[str, Field(pattern=KIND_PATTERN)], Dependency] = Field(
        default_factory=dict
    )
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

    def retry_for(self, task_type: str) -> Retry:
        """The retry policy of `task_type`: the scenario's, with the type's own keys over it.

        Raises pydantic's ValidationError when the merged keys do not fit together (the
        loader reports it at the type's retry block).
        """
        override = self.task_types[task_type].retry
        if override is None:
            return self.retry
        return Retry.model_validate(
            merged_retry_data(self.retry, override), strict=True, context=SECONDS_CONTEXT
        )

    def most_attempts(self) -> int:
        """The largest max_attempts of any task type (the bound a log's reader checks)."""
        return max(self.retry_for(name).max_attempts for name in self.task_types)
