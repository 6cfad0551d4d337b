"""The one reducer: `apply(state, event) -> state` turns the event stream into numbers.

The live dashboard, replay, report, diff and verify all fold events through
`RunState.apply`; nothing else in dtq derives a count from events. Folding is on the
hot path (a replay of a million events, a dashboard fed by a busy engine), so each
event costs one dict dispatch and a handful of field reads and increments: counters
live per priority and per task type and the run totals are their sums.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dtq import events as ev
from dtq.errors import MalformedEvent
from dtq.events import Event
from dtq.fold.overload import Dependencies
from dtq.fold.series import TimeSeries

# Worker states shown in the workers table.
IDLE = "idle"
BUSY = "busy"
CRASHED = "crashed"
STOPPED = "stopped"

THROUGHPUT_WINDOW_S = 5.0
# The counts kept over time (`RunState.over_time`), named as in `totals()`; `first_time`:
# the tasks of `succeeded` that succeeded on their first attempt.
SERIES_COLUMNS = ("submitted", "started", "succeeded", "failed", "dead_lettered", "first_time")


@dataclass(frozen=True, slots=True)
class WaitStats:
    """Queue wait of one group of attempts, in seconds; nearest-rank percentiles."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float], ordered: Sequence[float]) -> WaitStats:
        """The stats of `values` (at least one), given them in ascending order too."""
        return cls(
            count=len(ordered),
            mean=mean_of(values),
            p50=nearest_rank(ordered, 50),
            p95=nearest_rank(ordered, 95),
            p99=nearest_rank(ordered, 99),
            max=ordered[-1],
        )


EMPTY_WAIT = WaitStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class RunMeta:
    """What `run_started` says about the run: scenario, seed, clock, workers, policy."""

    scenario_name: str
    seed: int | None
    clock: str
    time_scale: float
    workers: int
    backend: str
    policy: str
    max_attempts: int
    expected_tasks: int
    started_at: str
    scenario_path: str
    scenario_sha256: str
    dtq: str
    schema: int
    scenario: dict[str, Any]

    @classmethod
    def from_event(cls, event: Event) -> RunMeta:
        """Read the fields of a `run_started` event, tolerating missing ones."""
        scenario = event.get("scenario")
        return cls(
            scenario_name=str(event.get("scenario_name", "")),
            seed=event.get("seed"),
            clock=str(event.get("clock", "")),
            time_scale=float(event.get("time_scale") or 1.0),
            workers=int(event.get("workers") or 0),
            backend=str(event.get("backend", "")),
            policy=str(event.get("policy", "")),
            max_attempts=int(event.get("max_attempts") or 0),
            expected_tasks=int(event.get("expected_tasks") or 0),
            started_at=str(event.get("started_at", "")),
            scenario_path=str(event.get("scenario_path", "")),
            scenario_sha256=str(event.get("scenario_sha256", "")),
            dtq=str(event.get("dtq", "")),
            schema=int(event.get("schema") or 0),
            scenario=scenario if isinstance(scenario, dict) else {},
        )


@dataclass(slots=True)
class Counts:
    """Task counters of one priority or one task type."""

    submitted: int = 0
    started: int = 0
    succeeded: int = 0
    dead_lettered: int = 0
    failed: int = 0
    retried: int = 0
    redelivered: int = 0
    queued: int = 0
    retrying: int = 0


@dataclass(slots=True)
class WorkerRow:
    """One worker: its state, the attempt it runs, and what it has done so far."""

    name: str
    state: str = IDLE
    task_id: str | None = None
    priority: int | None = None
    attempt: int | None = None
    since_t: float = 0.0
    done: int = 0
    failures: int = 0
    busy_s: float = 0.0
    crashes: int = 0


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """A dead-lettered task without its times: what `dtq diff` and `dtq check` compare
    across runs (times move with any change) and a baseline records."""

    task_id: str
    type: str
    priority: int
    reason: str
    attempts: int
    last_error: str


@dataclass(frozen=True, slots=True)
class DlqEntry(DlqRecord):
    """A dead-lettered task, as `task_dead_lettered` describes it."""

    t: float
    first_failed_t: float | None


@dataclass(frozen=True, slots=True)
class FaultInfo:
    """A fault window from `fault_started` (kind, error, rate, tasks or workers)."""

    index: int
    kind: str
    started_t: float
    error: str | None
    rate: float | None
    tasks: tuple[str, ...] | None
    workers: int | None
    restart_after: float | None
    dependency: str | None = None
    capacity: float | None = None
    latency: float | None = None

    @classmethod
    def from_event(cls, event: Event) -> FaultInfo:
        """Read the fields of a `fault_started` event."""
        tasks = event.get("tasks")
        return cls(
            index=int(event.get("fault", -1)),
            kind=str(event.get("kind", "")),
            started_t=float(event["t"]),
            error=event.get("error"),
            rate=event.get("rate"),
            tasks=tuple(tasks) if isinstance(tasks, list) else None,
            workers=event.get("workers"),
            restart_after=event.get("restart_after"),
            dependency=event.get("dependency"),
            capacity=event.get("capacity"),
            latency=event.get("latency"),
        )


@dataclass(slots=True)
class RunState:
    """Everything the dashboard, replay and report know about a run, folded from events."""

    meta: RunMeta | None = None
    seq: int = 0
    t: float = 0.0
    by_priority: dict[int, Counts] = field(default_factory=dict)
    by_type: dict[str, Counts] = field(default_factory=dict)
    workers: dict[str, WorkerRow] = field(default_factory=dict)
    dlq: dict[str, DlqEntry] = field(default_factory=dict)
    active_faults: dict[int, FaultInfo] = field(default_factory=dict)
    faults_seen: list[FaultInfo] = field(default_factory=list)
    failures_by_error: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    """Duplicate runs: runs of a task that did not decide its end (`_count_duplicate`)."""
    peak_queued: int = 0  # the most tasks ever ready at one priority so far
    backlog: int = 0
    """Tasks waiting to run, at every priority: ready, or in a retry's backoff."""
    peak_backlog: int = 0
    """The most tasks ever waiting to run at once (`backlog`'s high-water mark)."""
    finished: dict[str, Any] | None = None
    # Set by a reader that folded a whole log: no more events will come, so a run
    # without `run_finished` is unfinished (killed, or its log could not be written).
    log_ended: bool = False
    waits_by_priority: dict[int, array[float]] = field(default_factory=dict)
    waits_by_type: dict[str, array[float]] = field(default_factory=dict)
    over_time: TimeSeries = field(init=False, repr=False, compare=False)
    dependencies: Dependencies = field(default_factory=Dependencies)
    last_fault_end_t: float | None = None
    warmup_s: float = 0.0
    """The scenario's `warmup`: tasks submitted before it are left out of the waits."""
    _warming: set[str] = field(default_factory=set)
    # End to end: submission to final success, per priority; and how many attempts each
    # task took to succeed (attempt number -> tasks). Submission times are kept only until
    # the task ends, so they cost memory in proportion to tasks in flight.
    end_to_end_by_priority: dict[int, array[float]] = field(default_factory=dict)
    attempts_to_succeed: dict[int, int] = field(default_factory=dict)
    _submitted_t: dict[str, float] = field(default_factory=dict)
    # Tasks whose lease was lost, and those of them that have ended (succeeded or
    # dead-lettered): only they can run twice, so only they are followed.
    _redelivered: set[str] = field(default_factory=set)
    _redelivered_done: set[str] = field(default_factory=set)
    _late_runs: set[tuple[str, int]] = field(default_factory=set)
    _sorted_waits: dict[int | str, list[float]] = field(default_factory=dict)
    _handlers: dict[str, Callable[[Event], None]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.over_time = TimeSeries(SERIES_COLUMNS, self._running_totals)
        self._handlers = {
            ev.RUN_STARTED: self._on_run_started,
            ev.RUN_FINISHED: self._on_run_finished,
            ev.TASK_SUBMITTED: self._on_task_submitted,
            ev.TASK_STARTED: self._on_task_started,
            ev.TASK_SUCCEEDED: self._on_task_succeeded,
            ev.TASK_FAILED: self._on_task_failed,
            ev.TASK_RETRY_READY: self._on_task_retry_ready,
            ev.TASK_DEAD_LETTERED: self._on_task_dead_lettered,
            ev.TASK_REDELIVERED: self._on_task_redelivered,
            ev.WORKER_STARTED: self._on_worker_idle,
            ev.WORKER_RESTARTED: self._on_worker_restarted,
            ev.WORKER_CRASHED: self._on_worker_crashed,
            ev.WORKER_STOPPED: self._on_worker_stopped,
            ev.FAULT_STARTED: self._on_fault_started,
            ev.FAULT_ENDED: self._on_fault_ended,
            ev.CALL_STARTED: self.dependencies.on_call_started,
            ev.CALL_ENDED: self.dependencies.on_call_ended,
        }

    # -- folding --------------------------------------------------------------------

    def apply(self, event: Event) -> RunState:
        """Fold one event into this state and return it; unknown event names are skipped."""
        handler = self._handlers.get(event["event"])
        if handler is not None:
            self.seq = event["seq"]
            self.t = t = event["t"]
            if t >= self.over_time.edge_t:
                self.over_time.advance(t)
            try:
                handler(event)
            except _UNREADABLE as exc:
                raise malformed(event, exc) from None
        return self

    def apply_all(self, events: Iterable[Event]) -> RunState:
        """Fold every event in order and return this state."""
        handlers = self._handlers
        edge_t = self.over_time.edge_t
        last: Event | None = None
        try:
            for event in events:
                handler = handlers.get(event["event"])
                if handler is not None:
                    last = event
                    t = event["t"]
                    if t >= edge_t:  # the one cost of the time series: a comparison
                        edge_t = self.over_time.advance(t)
                    try:  # free unless it raises (zero-cost exceptions)
                        handler(event)
                    except _UNREADABLE as exc:
                        raise malformed(event, exc) from None
        finally:
            # `seq` and `t` are the last folded event's, written once rather than per event.
            if last is not None:
                self.seq = last["seq"]
                self.t = last["t"]
        return self

    # -- derived numbers ------------------------------------------------------------

    @property
    def submitted(self) -> int:
        """Tasks submitted so far."""
        return sum(c.submitted for c in self.by_priority.values())

    @property
    def succeeded(self) -> int:
        """Tasks that ended in success (each task counted once)."""
        return sum(c.succeeded for c in self.by_priority.values())

    @property
    def dead_lettered(self) -> int:
        """Tasks that ended in the dead-letter queue."""
        return sum(c.dead_lettered for c in self.by_priority.values())

    @property
    def queued(self) -> int:
        """Tasks ready in the queue, not yet started."""
        return sum(c.queued for c in self.by_priority.values())

    @property
    def retrying(self) -> int:
        """Tasks waiting for a retry's backoff delay to pass."""
        return sum(c.retrying for c in self.by_priority.values())

    @property
    def running(self) -> int:
        """Attempts running on a worker right now."""
        return sum(1 for w in self.workers.values() if w.state == BUSY)

    @property
    def finished_tasks(self) -> int:
        """Tasks that reached an end: succeeded or dead-lettered."""
        return self.succeeded + self.dead_lettered

    @property
    def status(self) -> str:
        """`run_finished`'s status; else `unfinished` once the whole log is read, else
        `running` once started, else `waiting`."""
        if self.finished is not None:
            return str(self.finished.get("status", "finished"))
        if self.log_ended:
            return "unfinished"
        return "running" if self.meta is not None else "waiting"

    @property
    def elapsed_s(self) -> float:
        """Scenario-clock seconds the run took (from `run_finished`), else the last event's t."""
        if self.finished is not None and isinstance(self.finished.get("elapsed_s"), int | float):
            return float(self.finished["elapsed_s"])
        return float(self.t)

    def totals(self) -> dict[str, int]:
        """The run totals, with exactly the keys and meaning of `run_finished.totals`."""
        counts = self.by_priority.values()
        return ev.run_totals(
            {
                "submitted": sum(c.submitted for c in counts),
                "succeeded": sum(c.succeeded for c in counts),
                "dead_lettered": sum(c.dead_lettered for c in counts),
                "started": sum(c.started for c in counts),
                "failed": sum(c.failed for c in counts),
                "retried": sum(c.retried for c in counts),
                "redelivered": sum(c.redelivered for c in counts),
            }
        )

    def _running_totals(self) -> list[int]:
        """The totals `over_time` follows (`SERIES_COLUMNS`), summed over priorities."""
        counts = self.by_priority.values()
        return [
            sum(c.submitted for c in counts),
            sum(c.started for c in counts),
            sum(c.succeeded for c in counts),
            sum(c.failed for c in counts),
            sum(c.dead_lettered for c in counts),
            self.attempts_to_succeed.get(1, 0),
        ]

    def priorities(self) -> list[int]:
        """Every priority seen in the scenario or in the events, highest (1) first."""
        found = set(self.by_priority)
        if self.meta is not None:
            for spec in self.meta.scenario.get("task_types", {}).values():
                if isinstance(spec, dict) and isinstance(spec.get("priority"), int):
                    found.add(spec["priority"])
        return sorted(found)

    def throughput_history(self) -> list[int]:
        """Successes in each bucket of `over_time` (1 s at first), the current partial one last."""
        return self.over_time.values("succeeded")

    def wait_stats(self, key: int | str) -> WaitStats:
        """Wait stats of a priority (int) or a task type (str): count, mean, p50/p95/p99, max."""
        values = self.waits_by_priority.get(key) if isinstance(key, int) else None
        if isinstance(key, str):
            values = self.waits_by_type.get(key)
        if not values:
            return EMPTY_WAIT
        ordered = self._sorted(key, values)
        return WaitStats.of(values, ordered)

    def sorted_waits(self, priority: int) -> list[float]:
        """A priority's waits in ascending order (shared with `wait_stats`: do not modify)."""
        values = self.waits_by_priority.get(priority)
        return self._sorted(priority, values) if values else []

    def end_to_end_stats(self, priority: int) -> WaitStats:
        """Submission to final success of a priority's tasks: count, mean, p50/p95/p99, max."""
        values = self.end_to_end_by_priority.get(priority)
        if not values:
            return EMPTY_WAIT
        ordered = sorted(values)
        return WaitStats.of(values, ordered)

    def _sorted(self, key: int | str, values: array[float]) -> list[float]:
        # Waits only grow, so sorting the cached run plus the new tail is a timsort merge.
        ordered = self._sorted_waits.setdefault(key, [])
        if len(ordered) < len(values):
            ordered.extend(values[len(ordered) :])
            ordered.sort()
        return ordered

    # -- handlers -------------------------------------------------------------------

    # Types are checked when a key is first seen (rarely), not on every event: a string
    # priority would otherwise fold quietly and break every sorted table later. The hot
    # handlers look their rows up inline (`get(key) or self._new_...(key)`: rows are always
    # truthy) and reach for a helper only for a key not seen before.

    def _new_priority(self, priority: int) -> Counts:
        _require(type(priority) is int, "'priority' must be an integer", priority)
        counts = self.by_priority[priority] = Counts()
        return counts

    def _new_type(self, task_type: str) -> Counts:
        _require(type(task_type) is str, "'type' must be a string", task_type)
        counts = self.by_type[task_type] = Counts()
        return counts

    def _counts(self, priority: int, task_type: str) -> tuple[Counts, Counts]:
        by_p = self.by_priority.get(priority) or self._new_priority(priority)
        return by_p, self.by_type.get(task_type) or self._new_type(task_type)

    def _new_worker(self, name: str) -> WorkerRow:
        _require(type(name) is str, "'worker' must be a string", name)
        row = self.workers[name] = WorkerRow(name)
        return row

    def _worker(self, name: str) -> WorkerRow:
        return self.workers.get(name) or self._new_worker(name)

    def _on_run_started(self, event: Event) -> None:
        self.meta = RunMeta.from_event(event)
        warmup = self.meta.scenario.get("warmup", 0.0)
        _require(type(warmup) in (int, float), "'scenario.warmup' must be a number", warmup)
        self.warmup_s = float(warmup)

    def _on_run_finished(self, event: Event) -> None:
        self.finished = dict(event)
        self.active_faults.clear()  # whatever was still in force ended with the run

    def _on_task_submitted(self, event: Event) -> None:
        t = event["t"]
        if t < self.warmup_s:  # counted, but neither its waits nor its end-to-end time
            self._warming.add(event["task_id"])
        else:
            self._submitted_t[event["task_id"]] = t
        priority = event["priority"]
        by_p = self.by_priority.get(priority) or self._new_priority(priority)
        task_type = event["type"]
        by_t = self.by_type.get(task_type) or self._new_type(task_type)
        by_p.submitted += 1
        by_t.submitted += 1
        by_t.queued += 1
        queued = by_p.queued = by_p.queued + 1
        if queued > self.peak_queued:
            self.peak_queued = queued
        backlog = self.backlog = self.backlog + 1  # `_grow_backlog` written out: once a task
        if backlog > self.peak_backlog:
            self.peak_backlog = backlog

    def _on_task_started(self, event: Event) -> None:
        priority = event["priority"]
        task_type = event["type"]
        task_id = event["task_id"]
        by_p = self.by_priority.get(priority) or self._new_priority(priority)
        by_t = self.by_type.get(task_type) or self._new_type(task_type)
        by_p.started += 1
        by_p.queued -= 1
        by_t.started += 1
        by_t.queued -= 1
        self.backlog -= 1
        name = event["worker"]
        row = self.workers.get(name) or self._new_worker(name)
        row.state = BUSY
        row.task_id = task_id
        row.priority = priority
        row.attempt = event["attempt"]
        row.since_t = event["t"]
        # Only a task whose lease was lost can start after it ended; a task id that is not
        # a string is still looked up (an unhashable one fails here, as it always has).
        done = self._redelivered_done
        if (done or type(task_id) is not str) and task_id in done:
            self._count_late_start(task_id, event["attempt"])
        if self._warming and task_id in self._warming:
            return  # submitted during the warm-up: counted, but its waits are not typical
        wait_s = event["wait_s"]
        waits = self.waits_by_priority.get(priority)
        if waits is None:
            waits = self.waits_by_priority[priority] = array("d")
        waits.append(wait_s)
        waits = self.waits_by_type.get(task_type)
        if waits is None:
            waits = self.waits_by_type[task_type] = array("d")
        waits.append(wait_s)

    def _finish_attempt(self, event: Event) -> WorkerRow:
        name = event["worker"]
        row = self.workers.get(name) or self._new_worker(name)
        row.busy_s += event["run_s"]
        if row.task_id == event["task_id"]:
            row.task_id = row.priority = row.attempt = None
            if row.state == BUSY:
                row.state = IDLE
        return row

    def _on_task_succeeded(self, event: Event) -> None:
        self._finish_attempt(event).done += 1
        task_id = event["task_id"]
        if self._redelivered and task_id in self._redelivered:
            if task_id in self._redelivered_done:
                self._count_duplicate(task_id, event["attempt"])
                return  # a duplicate run after a lost lease: the task already ended
            self._redelivered_done.add(task_id)
        priority = event["priority"]
        task_type = event["type"]
        (self.by_priority.get(priority) or self._new_priority(priority)).succeeded += 1
        (self.by_type.get(task_type) or self._new_type(task_type)).succeeded += 1
        submitted_t = self._submitted_t.pop(task_id, None)
        if submitted_t is not None:
            times = self.end_to_end_by_priority.get(priority)
            if times is None:
                times = self.end_to_end_by_priority[priority] = array("d")
            times.append(event["t"] - submitted_t)
        attempt = event["attempt"]
        self.attempts_to_succeed[attempt] = self.attempts_to_succeed.get(attempt, 0) + 1

    def _on_task_failed(self, event: Event) -> None:
        self._finish_attempt(event).failures += 1
        by_p, by_t = self._counts(event["priority"], event["type"])
        by_p.failed += 1
        by_t.failed += 1
        if event["will_retry"]:
            by_p.retried += 1
            by_p.retrying += 1
            by_t.retried += 1
            by_t.retrying += 1
            self._grow_backlog()
        if self._redelivered and event.get("duplicate") is True:
            self._count_duplicate(event["task_id"], event["attempt"])
        if "dependency" in event:
            self.dependencies.on_rejected(event)
        error = event["error"]
        count = self.failures_by_error.get(error)
        if count is None:
            _require(type(error) is str, "'error' must be a string", error)
            count = 0
        self.failures_by_error[error] = count + 1

    def _on_task_retry_ready(self, event: Event) -> None:
        by_p, by_t = self._counts(event["priority"], event["type"])
        by_p.retrying -= 1
        by_t.retrying -= 1
        by_t.queued += 1
        queued = by_p.queued = by_p.queued + 1
        if queued > self.peak_queued:
            self.peak_queued = queued

    def _on_task_dead_lettered(self, event: Event) -> None:
        priority = event["priority"]
        task_type = event["type"]
        by_p, by_t = self._counts(priority, task_type)
        by_p.dead_lettered += 1
        by_t.dead_lettered += 1
        if event.get("reason") == ev.REASON_EXPIRED:
            # Dead-lettered as a worker took it, without a start: it leaves the queue here.
            by_p.queued -= 1
            by_t.queued -= 1
            self.backlog -= 1
        task_id = event["task_id"]
        self._submitted_t.pop(task_id, None)
        if task_id in self._redelivered:
            self._redelivered_done.add(task_id)
        # Dead letters are few and every field of theirs is shown: check them all
        # (`malformed` then names the field).
        if ev.field_problem(event) is not None:
            raise TypeError("a dead letter with a missing or mistyped field")
        first_failed_t = event.get("first_failed_t")
        _require(
            first_failed_t is None or type(first_failed_t) in (int, float),
            "'first_failed_t' must be a number or null",
            first_failed_t,
        )
        self.dlq[task_id] = DlqEntry(
            task_id=task_id,
            type=task_type,
            priority=priority,
            reason=event["reason"],
            attempts=event["attempts"],
            last_error=event["last_error"],
            t=event["t"],
            first_failed_t=event.get("first_failed_t"),
        )

    def _grow_backlog(self) -> None:
        """One more task waiting to run (a retry in backoff, a redelivery)."""
        self.backlog += 1
        if self.backlog > self.peak_backlog:
            self.peak_backlog = self.backlog

    def _count_late_start(self, task_id: str, attempt: int) -> None:
        """A run started after its task had ended: a duplicate, counted now, not again
        when it ends."""
        self.duplicates += 1
        self._late_runs.add((task_id, attempt))

    def _count_duplicate(self, task_id: str, attempt: int) -> None:
        """A run whose lease was lost ended (a failure marked `duplicate`, or a success of
        a task that had already ended): a duplicate, unless counted when it started.

        The one definition of a *duplicate run*, used by report, verify, the dashboard
        and diff: a run of a task (`task_started` and the end it reports) that did not
        decide the task's end, because its lease had been lost: it started after the
        task had already ended, or it ended after the task had, or it failed after its
        lease was taken back (`"duplicate": true`). Each such run counts once, at the
        first event that shows it. A lost run that never reports (its worker died) is
        not one: it is counted under `redelivered`."""
        if (task_id, attempt) in self._late_runs:
            self._late_runs.discard((task_id, attempt))
            return
        self.duplicates += 1

    def _on_task_redelivered(self, event: Event) -> None:
        by_p, by_t = self._counts(event["priority"], event["type"])
        by_p.redelivered += 1
        by_p.queued += 1
        by_t.redelivered += 1
        by_t.queued += 1
        if by_p.queued > self.peak_queued:
            self.peak_queued = by_p.queued
        self._grow_backlog()
        task_id = event["task_id"]
        self._redelivered.add(task_id)
        lost = self.workers.get(event.get("lost_worker") or "")
        if lost is not None and lost.task_id == task_id:
            lost.task_id = lost.priority = lost.attempt = None
            if lost.state == BUSY:
                lost.state = IDLE

    def _on_worker_idle(self, event: Event) -> None:
        row = self._worker(event["worker"])
        row.state = IDLE
        row.task_id = row.priority = row.attempt = None

    def _on_worker_restarted(self, event: Event) -> None:
        self._on_worker_idle(event)
        # A worker_crash fault may have no fault_ended: it is over once no worker is down.
        if not any(w.state == CRASHED for w in self.workers.values()):
            for index, fault in list(self.active_faults.items()):
                if fault.kind == "worker_crash":
                    del self.active_faults[index]

    def _on_worker_crashed(self, event: Event) -> None:
        row = self._worker(event["worker"])
        row.state = CRASHED
        row.crashes += 1
        row.task_id = row.priority = row.attempt = None

    def _on_worker_stopped(self, event: Event) -> None:
        row = self._worker(event["worker"])
        row.state = STOPPED
        row.task_id = row.priority = row.attempt = None

    def _on_fault_started(self, event: Event) -> None:
        fault = FaultInfo.from_event(event)
        self.active_faults[fault.index] = fault
        self.faults_seen.append(fault)

    def _on_fault_ended(self, event: Event) -> None:
        self.active_faults.pop(int(event.get("fault", -1)), None)
        self.last_fault_end_t = event["t"]


def _require(ok: bool, rule: str, value: object) -> None:
    """Raise the reducer's unreadable-event error unless `ok` (a new key's type check)."""
    if not ok:
        raise TypeError(f"{rule} (got {value!r})")


# What a handler raises on an event with a missing or mistyped field.
_UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def malformed(event: Event, exc: Exception) -> MalformedEvent:
    """The error for an event the reducer could not read, naming the field when it can."""
    problem = ev.field_problem(event) or f"{event['event']} cannot be read ({exc!r})"
    return MalformedEvent(problem, event)


def mean_of(values: Sequence[float]) -> float:
    """The mean of `values` (at least one), exact in the sum; infinity when the sum
    overflows (a damaged log's huge times), never an error."""
    try:
        return math.fsum(values) / len(values)
    except OverflowError:
        return math.inf


def nearest_rank(ordered: Sequence[float], percent: int) -> float:
    """The nearest-rank percentile of sorted values: the value at rank ceil(p/100 * n)."""
    rank = -(-percent * len(ordered) // 100)
    return ordered[max(rank, 1) - 1]


def fold_events(events: Iterable[Event], state: RunState | None = None) -> RunState:
    """Fold every event into `state` (a new one by default) and return it."""
    return (state if state is not None else RunState()).apply_all(events)
