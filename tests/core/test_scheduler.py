"""The Scheduler on its own: a fake clock passes `now` in; no engine, no thread, no sleep."""

from __future__ import annotations

from typing import Any

from dtq.core.agenda import RETRY_RELEASE
from dtq.core.plan import ConstantDuration, Plan, RetryPolicy, TaskKind
from dtq.core.scheduler import Scheduler
from dtq.core.task import Task

Event = dict[str, Any]


class FakeClock:
    """Scenario time, moved by the test."""

    def __init__(self) -> None:
        self.t = 0.0

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


def _plan(*, failures: tuple[tuple[str, float], ...] = (), max_attempts: int = 3) -> Plan:
    kind = TaskKind(0, "job", 2, ConstantDuration(1.5), None, failures)
    retry = RetryPolicy(max_attempts, "fixed", 0.5, 30.0, "none", None)
    return Plan(1, 2, "priority", 0.0, retry, {"job": kind}, (), (), ())


def _setup(**plan: Any) -> tuple[Scheduler, list[Event], FakeClock, Task]:
    events: list[Event] = []
    sched = Scheduler(_plan(**plan), events.append, workers=2)
    task = Task("job-000001", sched.plan.kinds["job"], 7)
    return sched, events, FakeClock(), task


def test_a_task_waits_from_arrival_and_runs_for_its_drawn_duration() -> None:
    """submit, start 2s later, finish: wait_s and run_s as the clock says."""
    sched, events, clock, task = _setup()
    sched.submit(task, clock.t)
    attempt = sched.start_next(1, clock.advance(2.0))
    assert attempt is not None and attempt.run_s == 1.5 and attempt.worker == 1
    assert sched.finish(attempt, clock.advance(attempt.run_s))
    assert [e["event"] for e in events] == ["task_submitted", "task_started", "task_succeeded"]
    assert events[1]["wait_s"] == 2.0 and events[1]["worker"] == "w02"
    assert events[2]["run_s"] == 1.5 and events[2]["t"] == 3.5
    assert sched.is_drained()
    assert sched.totals() == {
        "submitted": 1,
        "succeeded": 1,
        "dead_lettered": 0,
        "pending": 0,
        "started": 1,
        "failed": 0,
        "retried": 0,
        "redelivered": 0,
    }


def test_a_failed_attempt_puts_its_retry_on_the_agenda() -> None:
    """The retry waits on the agenda until its backoff is over; its wait counts from then."""
    sched, events, clock, task = _setup(failures=(("boom", 1.0),))
    sched.submit(task, clock.t)
    attempt = sched.start_next(0, clock.t)
    assert attempt is not None and attempt.error == "boom"
    sched.finish(attempt, clock.advance(1.5))
    failed = events[-1]
    assert failed["event"] == "task_failed" and failed["will_retry"] is True
    assert failed["retry_at"] == 2.0
    assert sched.waiting_retries == 1 and not sched.is_drained()
    assert sched.agenda.pop() == (2.0, RETRY_RELEASE, task)
    sched.release_due([(2.0, task)], clock.advance(0.7))  # noticed late, at 2.2s
    assert events[-1]["event"] == "task_retry_ready" and events[-1]["attempt"] == 2
    second = sched.start_next(0, clock.t)
    assert second is not None and second.number == 2
    assert events[-1]["wait_s"] == 0.2  # counted from when the retry was due


def test_the_last_failed_attempt_dead_letters_the_task() -> None:
    """max_attempts 1: no retry, a dead letter with reason exhausted."""
    sched, events, clock, task = _setup(failures=(("boom", 1.0),), max_attempts=1)
    sched.submit(task, clock.t)
    attempt = sched.start_next(0, clock.t)
    assert attempt is not None
    sched.finish(attempt, clock.advance(1.5))
    assert [e["event"] for e in events[-2:]] == ["task_failed", "task_dead_lettered"]
    assert events[-1]["reason"] == "exhausted" and events[-1]["first_failed_t"] == 1.5
    assert len(sched.agenda) == 0 and sched.is_drained()
    assert sched.totals()["dead_lettered"] == 1


def test_a_crashed_worker_fails_its_attempt_and_takes_no_work_until_restarted() -> None:
    """crash_worker: the attempt fails with crash; a late finish no longer counts."""
    sched, events, clock, task = _setup()
    sched.submit(task, clock.t)
    attempt = sched.start_next(0, clock.t)
    assert attempt is not None
    assert sched.live_workers() == [(0, True), (1, False)]
    sched.crash_worker(0, clock.advance(0.5), "killed")
    assert events[-2]["event"] == "worker_crashed" and events[-2]["task_id"] == task.id
    assert events[-1]["event"] == "task_failed" and events[-1]["error"] == "crash"
    assert not sched.finish(attempt, clock.advance(1.0))
    assert sched.live_workers() == [(1, False)]
    due_at, _, retried = sched.agenda.pop()  # the crash is retried like any failure
    sched.release_due([(due_at, retried)], clock.t)
    assert sched.start_next(0, clock.t) is None  # still down
    sched.restart_worker(0, clock.t)
    assert sched.start_next(0, clock.t) is not None


def test_a_closed_scheduler_starts_nothing() -> None:
    """After the engine closes it, ready work stays queued."""
    sched, _, clock, task = _setup()
    sched.submit(task, clock.t)
    sched.closed = True
    assert sched.start_next(0, clock.t) is None and len(sched.ready) == 1
