"""Builds small, valid event logs for tests: the engine's event shapes without the engine.

`LogBuilder` keeps its own plain counters for `run_finished.totals`, independent of the
reducer, so a test that folds a built log checks the reducer against a second count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from dtq.events import TOTAL_KEYS

Event = dict[str, Any]

TASK_TYPES: dict[str, dict[str, Any]] = {
    "email": {"priority": 2, "duration": {"dist": "constant", "value": 0.05}, "timeout": 1.0},
    "report": {"priority": 8, "duration": {"dist": "constant", "value": 0.5}, "timeout": None},
}


@dataclass
class _Task:
    task_id: str
    type: str
    priority: int
    attempt: int = 0
    ready_t: float = 0.0
    first_failed_t: float | None = None
    last_error: str | None = None


@dataclass
class LogBuilder:
    """Appends events with gapless `seq`; task helpers fill in type, priority and attempt."""

    name: str = "small"
    clock: str = "virtual"
    workers: int = 2
    max_attempts: int = 3
    expected_tasks: int = 0
    backend: str = "memory"
    faults: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    tasks: dict[str, _Task] = field(default_factory=dict)
    totals: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            TOTAL_KEYS,
            0,
        )
    )

    def emit(self, t: float, event: str, **fields: Any) -> Event:
        """Append one event at time `t` and return it."""
        record: Event = {"seq": len(self.events) + 1, "t": t, "event": event, **fields}
        self.events.append(record)
        return record

    def run_started(self) -> None:
        """The first event, with a resolved scenario like the engine writes."""
        scenario = {
            "name": self.name,
            "seed": 7,
            "clock": self.clock,
            "workers": self.workers,
            "task_types": TASK_TYPES,
            "arrivals": [],
            "faults": self.faults,
            "expect": {"dlq_max": 1, "wait_p95": {"2": 0.5}, "completed_min": None},
            "retry": {"max_attempts": self.max_attempts, "backoff": "fixed", "base_delay": 0.1},
        }
        self.emit(
            0.0,
            "run_started",
            schema=1,
            dtq="0.1.0",
            seed=7,
            clock=self.clock,
            time_scale=1.0,
            workers=self.workers,
            backend=self.backend,
            policy="priority",
            max_attempts=self.max_attempts,
            scenario_name=self.name,
            scenario_path=f"scenarios/{self.name}.yaml",
            scenario_sha256="0" * 64,
            scenario=scenario,
            started_at="2024-01-01T00:00:00Z",
            expected_tasks=self.expected_tasks,
        )

    def _fields(self, task: _Task) -> dict[str, Any]:
        return {"task_id": task.task_id, "type": task.type, "priority": task.priority}

    def submit(self, t: float, task_id: str) -> None:
        """`task_submitted`; the type is the id's prefix (`email-000001` is an email)."""
        task_type = task_id.rsplit("-", 1)[0]
        task = _Task(task_id, task_type, TASK_TYPES[task_type]["priority"], ready_t=t)
        self.tasks[task_id] = task
        self.totals["submitted"] += 1
        self.emit(t, "task_submitted", **self._fields(task))

    def start(self, t: float, task_id: str, worker: str) -> None:
        """`task_started` of the task's next attempt; wait_s is the time since it was ready."""
        task = self.tasks[task_id]
        task.attempt += 1
        self.totals["started"] += 1
        wait_s = round(t - task.ready_t, 6)
        self.emit(
            t,
            "task_started",
            **self._fields(task),
            attempt=task.attempt,
            worker=worker,
            wait_s=wait_s,
        )

    def succeed(self, t: float, task_id: str, worker: str, run_s: float) -> None:
        """`task_succeeded` of the current attempt."""
        task = self.tasks[task_id]
        self.totals["succeeded"] += 1
        self.emit(
            t,
            "task_succeeded",
            **self._fields(task),
            attempt=task.attempt,
            worker=worker,
            run_s=run_s,
        )

    def fail(
        self,
        t: float,
        task_id: str,
        worker: str,
        *,
        error: str,
        run_s: float,
        retry_at: float | None,
    ) -> None:
        """`task_failed`; a `retry_at` means the task will be retried then."""
        task = self.tasks[task_id]
        task.last_error = error
        if task.first_failed_t is None:
            task.first_failed_t = t
        self.totals["failed"] += 1
        if retry_at is not None:
            self.totals["retried"] += 1
        self.emit(
            t,
            "task_failed",
            **self._fields(task),
            attempt=task.attempt,
            worker=worker,
            error=error,
            message=f"{error} error",
            will_retry=retry_at is not None,
            retry_at=retry_at,
            run_s=run_s,
        )

    def retry_ready(self, t: float, task_id: str) -> None:
        """`task_retry_ready`: the backoff is over and the task is queued again."""
        task = self.tasks[task_id]
        task.ready_t = t
        self.emit(t, "task_retry_ready", **self._fields(task), attempt=task.attempt + 1)

    def dead_letter(self, t: float, task_id: str, *, reason: str) -> None:
        """`task_dead_lettered` after the task's last failure."""
        task = self.tasks[task_id]
        self.totals["dead_lettered"] += 1
        self.emit(
            t,
            "task_dead_lettered",
            **self._fields(task),
            attempt=task.attempt,
            reason=reason,
            attempts=task.attempt,
            first_failed_t=task.first_failed_t,
            last_error=task.last_error,
        )

    def redeliver(self, t: float, task_id: str, lost_worker: str) -> None:
        """`task_redelivered`: a lease expired and the task is queued again."""
        task = self.tasks[task_id]
        task.ready_t = t
        self.totals["redelivered"] += 1
        self.emit(
            t,
            "task_redelivered",
            **self._fields(task),
            attempt=task.attempt + 1,
            lost_worker=lost_worker,
        )

    def lost_run_ended(
        self,
        t: float,
        task_id: str,
        worker: str,
        *,
        attempt: int,
        run_s: float,
        error: str | None = None,
        ends_task: bool = False,
    ) -> None:
        """The late end of attempt `attempt`, whose lease `worker` lost: a success (no
        `error`; `ends_task` when it is the task's first) or a failure marked `duplicate`."""
        task = self.tasks[task_id]
        where = {**self._fields(task), "attempt": attempt, "worker": worker}
        if error is None:
            self.totals["succeeded"] += int(ends_task)
            self.emit(t, "task_succeeded", **where, run_s=run_s)
            return
        self.totals["failed"] += 1
        self.emit(
            t,
            "task_failed",
            **where,
            error=error,
            message=f"{error} error",
            will_retry=False,
            retry_at=None,
            run_s=run_s,
            duplicate=True,
        )

    def run_finished(self, t: float, status: str = "completed") -> None:
        """The last event, with the builder's own totals."""
        totals = dict(self.totals)
        totals["pending"] = totals["submitted"] - totals["succeeded"] - totals["dead_lettered"]
        self.emit(t, "run_finished", status=status, totals=totals, elapsed_s=t)

    def write(self, path: Path) -> Path:
        """Write the events as JSON lines and return the path."""
        path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in self.events))
        return path


def small_log() -> LogBuilder:
    """Four tasks on two workers: a retry, a dead-lettered task, a worker crash, an outage."""
    outage = {"kind": "outage", "from": 2.0, "until": 3.0, "error": "network", "rate": 0.9}
    crash = {"kind": "worker_crash", "at": 3.5, "workers": 1, "restart_after": 1.0}
    b = LogBuilder(expected_tasks=4, faults=[outage, crash])
    b.run_started()
    b.emit(0.0, "worker_started", worker="w01")
    b.emit(0.0, "worker_started", worker="w02")
    b.submit(1.0, "email-000000")
    b.submit(1.0, "report-000001")
    b.start(1.0, "email-000000", "w01")
    b.start(1.0, "report-000001", "w02")
    b.succeed(1.25, "email-000000", "w01", run_s=0.25)
    b.submit(1.5, "email-000002")
    b.start(1.5, "email-000002", "w01")
    b.emit(2.0, "fault_started", fault=0, kind="outage", error="network", rate=0.9, tasks=None)
    b.fail(2.25, "email-000002", "w01", error="network", run_s=0.75, retry_at=2.5)
    b.submit(2.5, "email-000003")
    b.retry_ready(2.5, "email-000002")
    b.start(2.5, "email-000002", "w01")
    b.emit(3.0, "fault_ended", fault=0, kind="outage", error="network", rate=0.9, tasks=None)
    b.succeed(3.0, "email-000002", "w01", run_s=0.5)
    b.start(3.0, "email-000003", "w01")
    b.fail(3.25, "email-000003", "w01", error="bad_input", run_s=0.25, retry_at=None)
    b.dead_letter(3.25, "email-000003", reason="non_retryable")
    b.emit(3.5, "fault_started", fault=1, kind="worker_crash", workers=1, restart_after=1.0)
    b.emit(3.5, "worker_crashed", worker="w02", task_id="report-000001")
    b.fail(3.5, "report-000001", "w02", error="crash", run_s=2.5, retry_at=4.0)
    b.retry_ready(4.0, "report-000001")
    b.start(4.0, "report-000001", "w01")
    b.emit(4.5, "worker_restarted", worker="w02")
    b.emit(4.5, "fault_ended", fault=1, kind="worker_crash", workers=1, restart_after=1.0)
    b.succeed(4.5, "report-000001", "w01", run_s=0.5)
    b.emit(5.0, "worker_stopped", worker="w01")
    b.emit(5.0, "worker_stopped", worker="w02")
    b.run_finished(5.0)
    return b


def steady_log(*, tasks: int, gap_s: float, workers: int = 4) -> LogBuilder:
    """`tasks` emails, one every `gap_s` seconds, each run at once on a worker in turn."""
    b = LogBuilder(name="steady", workers=workers, expected_tasks=tasks)
    b.run_started()
    for index in range(workers):
        b.emit(0.0, "worker_started", worker=f"w{index + 1:02d}")
    for index in range(tasks):
        t = round(index * gap_s, 6)
        task_id = f"email-{index:06d}"
        worker = f"w{index % workers + 1:02d}"
        b.submit(t, task_id)
        b.start(t, task_id, worker)
        b.succeed(round(t + gap_s / 2, 6), task_id, worker, run_s=gap_s / 2)
    b.run_finished(round(tasks * gap_s, 6))
    return b


DUPLICATE_RUNS = 4
"""The duplicate runs in `redelivered_log()`: four tasks ran twice, one was lost for good."""


def redelivered_log() -> LogBuilder:
    """Five Redis tasks whose first lease is lost; four of them run twice.

    email-000001: the copy succeeds, then the lost run succeeds late (a duplicate at its end).
    email-000002: the lost run succeeds first; the copy starts after that (a duplicate at its
    start, not counted again when it ends).
    email-000003: the lost run fails late, marked `duplicate`, while the copy runs.
    email-000004: the lost run succeeds while the copy runs; the copy then fails, marked
    `duplicate`.
    email-000005: its worker died: the lost run never reports, so it ran once to an end.
    """
    b = LogBuilder(expected_tasks=5, backend="redis://127.0.0.1:6379/0", workers=10)
    b.run_started()
    for index in range(1, 6):
        task_id = f"email-{index:06d}"
        b.submit(0.0, task_id)
        b.start(0.0, task_id, f"w{2 * index - 1:02d}")
    for index in range(1, 6):
        b.redeliver(1.0, f"email-{index:06d}", lost_worker=f"w{2 * index - 1:02d}")
    for index in (1, 3, 4, 5):
        b.start(1.0, f"email-{index:06d}", f"w{2 * index:02d}")
    b.succeed(1.1, "email-000001", "w02", run_s=0.1)
    b.lost_run_ended(1.2, "email-000001", "w01", attempt=1, run_s=1.2)
    b.lost_run_ended(1.2, "email-000002", "w03", attempt=1, run_s=1.2, ends_task=True)
    b.start(1.3, "email-000002", "w04")
    b.succeed(1.4, "email-000002", "w04", run_s=0.1)
    b.totals["succeeded"] -= 1  # the copy's success does not end the task again
    b.lost_run_ended(1.4, "email-000003", "w05", attempt=1, run_s=1.4, error="io")
    b.succeed(1.5, "email-000003", "w06", run_s=0.5)
    b.lost_run_ended(1.5, "email-000004", "w07", attempt=1, run_s=1.5, ends_task=True)
    b.lost_run_ended(1.6, "email-000004", "w08", attempt=2, run_s=0.6, error="io")
    b.succeed(1.6, "email-000005", "w10", run_s=0.6)
    b.run_finished(1.6)
    return b
