"""The task lifecycle as a state machine: submit, start, finish, fail, retry, dead-letter.

Both engines drive this one class, so they cannot disagree on policy. It never reads a
clock (every method takes `now`, seconds on the scenario clock) and never does I/O: each
state change is handed to the injected `emit` as one event dict. The caller serialises
calls (the threaded engine holds its lock around them).
"""

from __future__ import annotations

from collections.abc import Callable

from dtq.core.agenda import RETRY_RELEASE, Agenda
from dtq.core.attempts import draw_attempt, failure_decision
from dtq.core.budget import Budgets
from dtq.core.plan import OutageWindow, Plan
from dtq.core.queues import ReadyQueue
from dtq.core.retry import Decision
from dtq.core.rounding import round_us
from dtq.core.steps import StepAttempt, Steps
from dtq.core.task import Attempt, Task
from dtq.events import (
    ERROR_CRASH,
    FAULT_ENDED,
    FAULT_STARTED,
    REASON_BUDGET,
    REASON_EXPIRED,
    TASK_DEAD_LETTERED,
    TASK_FAILED,
    TASK_RETRY_READY,
    TASK_STARTED,
    TASK_SUBMITTED,
    TASK_SUCCEEDED,
    WORKER_CRASHED,
    WORKER_RESTARTED,
    WORKER_STARTED,
    WORKER_STOPPED,
    Event,
    run_totals,
)

Emit = Callable[[Event], None]

BUDGET_DENIED = Decision(retry=False, reason=REASON_BUDGET)


def worker_names(count: int) -> list[str]:
    """Stable worker names `w01`, `w02` ... (wider when there are more than 99)."""
    width = max(2, len(str(count)))
    return [f"w{i + 1:0{width}d}" for i in range(count)]


class Scheduler:
    """Queues, workers' current attempts and the retry/DLQ decisions of one run."""

    def __init__(
        self, plan: Plan, emit: Emit, *, workers: int, agenda: Agenda | None = None
    ) -> None:
        self.plan = plan
        self._emit = emit
        self._budgets = Budgets(plan)
        self.ready = ReadyQueue(policy=plan.policy, aging_interval_s=plan.aging_interval_s)
        # Retries wait on the run's agenda, in the one order of timed actions.
        self.agenda = agenda if agenda is not None else Agenda()
        self.waiting_retries = 0
        self.names = worker_names(workers)
        self.current: list[Attempt | None] = [None] * workers
        self.down = [False] * workers
        self.closed = False
        self._outages: list[OutageWindow] = []
        self.submitted = self.succeeded = self.dead_lettered = 0
        self.started = self.failed = self.retried = 0
        # Task types made of steps (calls to dependencies) run on the agenda: see steps.py.
        self.steps = Steps(self, plan) if plan.has_steps() or plan.dependencies else None
        self.emit = emit

    # -- tasks -----------------------------------------------------------------

    def submit(self, task: Task, now: float) -> None:
        """A task arrives and is ready at once."""
        task.ready_t = task.submitted_t = now
        self.ready.push(task, now)
        self.submitted += 1
        self._emit(
            {
                "seq": 0,
                "t": now,
                "event": TASK_SUBMITTED,
                "task_id": task.id,
                "type": task.kind.name,
                "priority": task.priority,
            }
        )

    def start_next(self, worker: int, now: float) -> Attempt | None:
        """Give idle `worker` the next ready task; its outcome is drawn here."""
        if self.closed or self.down[worker]:
            return None
        task = self.ready.pop()
        if task is None:
            return None
        expires_s = task.kind.expires_s
        if expires_s is not None and now - task.submitted_t > expires_s:
            self._expire(task, now)
            return self.start_next(worker, now)
        number = task.attempts + 1
        task.attempts = number
        kind = task.kind
        if number == 1 and self._budgets:
            self._budgets.deposit(kind.name, now)
        # The same draw as a Redis worker's: attempt k of task X goes alike on any backend.
        if kind.failures or kind.timeout_s is not None or self._outages:
            run_s, error, message = draw_attempt(kind, task.key, number, self._outages)
        elif kind.steps is None:  # nothing can fail it: draw_attempt would draw the duration
            run_s, error, message = kind.duration.sample(task.key, number), None, ""
        else:  # steps time themselves (the duration is the constant 0 of a stepped type)
            run_s, error, message = 0.0, None, ""
        # A task type with steps gets the attempt that steps.py drives.
        made = Attempt if kind.steps is None else StepAttempt
        attempt = made(task, number, worker, now, run_s, error, message)
        self.current[worker] = attempt
        self.started += 1
        self._emit(
            {
                "seq": 0,
                "t": now,
                "event": TASK_STARTED,
                "task_id": task.id,
                "type": kind.name,
                "priority": task.priority,
                "attempt": number,
                "worker": self.names[worker],
                "wait_s": round_us(now - task.ready_t),
            }
        )
        return attempt

    def finish(self, attempt: Attempt, now: float) -> bool:
        """The attempt's run is over; False if it no longer counts (its worker crashed)."""
        worker = attempt.worker
        if self.closed or self.current[worker] is not attempt:
            return False
        self.current[worker] = None
        if attempt.error is None:
            self.succeeded += 1
            task = attempt.task
            self._emit(
                {
                    "seq": 0,
                    "t": now,
                    "event": TASK_SUCCEEDED,
                    "task_id": task.id,
                    "type": task.kind.name,
                    "priority": task.priority,
                    "attempt": attempt.number,
                    "worker": self.names[worker],
                    "run_s": round_us(now - attempt.started_t),
                }
            )
        else:
            self._fail(attempt, now, attempt.error, attempt.message)
        return True

    def end_attempt(
        self,
        attempt: Attempt,
        now: float,
        error: str | None,
        message: str,
        *,
        extra: Event | None = None,
        min_delay_s: float = 0.0,
    ) -> bool:
        """End an attempt with the given outcome (a step's); False if it no longer counts.

        `extra` adds fields to `task_failed`; a retry waits at least `min_delay_s` (a
        throttled call's `retry_after`).
        """
        if error is None:
            attempt.error = None
            return self.finish(attempt, now)
        worker = attempt.worker
        if self.closed or self.current[worker] is not attempt:
            return False
        self.current[worker] = None
        self._fail(attempt, now, error, message, extra=extra, min_delay_s=min_delay_s)
        return True

    def _expire(self, task: Task, now: float) -> None:
        """A task not started within its type's `expires` of submission goes to the DLQ."""
        self._dead_letter(
            task, now, task.attempts, REASON_EXPIRED, task.last_error or REASON_EXPIRED
        )

    def release_due(self, due: list[tuple[float, Task]], now: float) -> None:
        """Move retries whose delay is over, as (due time, task), back to the ready queue."""
        self.waiting_retries -= len(due)
        for ready_at, task in due:
            # The wait is counted from when the retry became due, even if noticed later.
            task.ready_t = ready_at
            self.ready.push(task, ready_at)
            self._emit(
                {
                    "seq": 0,
                    "t": now,
                    "event": TASK_RETRY_READY,
                    "task_id": task.id,
                    "type": task.kind.name,
                    "priority": task.priority,
                    "attempt": task.attempts + 1,
                }
            )

    def _fail(
        self,
        attempt: Attempt,
        now: float,
        error: str,
        message: str,
        *,
        extra: Event | None = None,
        min_delay_s: float = 0.0,
    ) -> None:
        task = attempt.task
        number = attempt.number
        self.failed += 1
        if task.first_failed_t is None:
            task.first_failed_t = now
        task.last_error = error
        policy = self.plan.retry_for(task.kind.name)
        decision = failure_decision(policy, task.key, number, error)
        if decision.retry and not self._budgets.allows_retry(task.kind.name, now):
            decision = BUDGET_DENIED
        # Never before `now`: a near-zero jittered delay must not round to an earlier time.
        delay_s = decision.delay_s if decision.delay_s >= min_delay_s else min_delay_s
        retry_at = max(now, round_us(now + delay_s)) if decision.retry else None
        base = {
            "seq": 0,
            "t": now,
            "event": TASK_FAILED,
            "task_id": task.id,
            "type": task.kind.name,
            "priority": task.priority,
            "attempt": number,
            "worker": self.names[attempt.worker],
            "error": error,
            "message": message,
            "will_retry": decision.retry,
            "retry_at": retry_at,
            "run_s": round_us(now - attempt.started_t),
        }
        if extra is not None:
            base.update(extra)
        self._emit(base)
        if retry_at is not None:
            self.retried += 1
            self.waiting_retries += 1
            self.agenda.schedule(retry_at, RETRY_RELEASE, task)
            return
        self._dead_letter(task, now, number, decision.reason, error)

    def _dead_letter(self, task: Task, now: float, attempts: int, reason: str, error: str) -> None:
        """`task` ends in the dead-letter queue after `attempts` attempts."""
        self.dead_lettered += 1
        self._emit(
            {
                "seq": 0,
                "t": now,
                "event": TASK_DEAD_LETTERED,
                "task_id": task.id,
                "type": task.kind.name,
                "priority": task.priority,
                "attempt": attempts,
                "reason": reason,
                "attempts": attempts,
                "first_failed_t": task.first_failed_t,
                "last_error": error,
            }
        )

    # -- workers ---------------------------------------------------------------

    def worker_started(self, worker: int, now: float) -> None:
        """A worker joins the pool."""
        self._emit({"seq": 0, "t": now, "event": WORKER_STARTED, "worker": self.names[worker]})

    def worker_stopped(self, worker: int, now: float) -> None:
        """A worker leaves the pool at the end of the run."""
        self._emit({"seq": 0, "t": now, "event": WORKER_STOPPED, "worker": self.names[worker]})

    def crash_worker(self, worker: int, now: float, message: str) -> Attempt | None:
        """`worker` dies: its attempt fails with kind `crash` and follows the retry policy."""
        attempt = self.current[worker]
        self.current[worker] = None
        self.down[worker] = True
        self._emit(
            {
                "seq": 0,
                "t": now,
                "event": WORKER_CRASHED,
                "worker": self.names[worker],
                "task_id": attempt.task.id if attempt is not None else None,
            }
        )
        if attempt is not None:
            if self.steps is not None:
                self.steps.abandon(attempt, now)
            self._fail(attempt, now, ERROR_CRASH, message)
        return attempt

    def restart_worker(self, worker: int, now: float) -> None:
        """A crashed worker is back and takes work again."""
        self.down[worker] = False
        self._emit({"seq": 0, "t": now, "event": WORKER_RESTARTED, "worker": self.names[worker]})

    def live_workers(self) -> list[tuple[int, bool]]:
        """(worker, busy) for every worker not down, lowest index first."""
        current, down = self.current, self.down
        return [(w, current[w] is not None) for w in range(len(current)) if not down[w]]

    # -- faults ----------------------------------------------------------------

    def outage_started(self, outage: OutageWindow, now: float) -> None:
        """From now on, attempts of the covered types fail at the outage's rate."""
        self._outages.append(outage)
        self._emit(
            {
                "seq": 0,
                "t": now,
                "event": FAULT_STARTED,
                "fault": outage.index,
                "kind": "outage",
                "error": outage.error,
                "rate": outage.rate,
                "tasks": sorted(outage.kinds) if outage.kinds is not None else None,
            }
        )

    def outage_ended(self, outage: OutageWindow, now: float) -> None:
        """The outage window is over."""
        self._outages.remove(outage)
        self._emit(
            {"seq": 0, "t": now, "event": FAULT_ENDED, "fault": outage.index, "kind": "outage"}
        )

    def crash_fault_ended(self, index: int, now: float) -> None:
        """A worker-crash fault has done its damage (its victims restart on their own)."""
        self._emit(
            {"seq": 0, "t": now, "event": FAULT_ENDED, "fault": index, "kind": "worker_crash"}
        )

    def active_outages(self) -> tuple[OutageWindow, ...]:
        """The outage windows in force now."""
        return tuple(self._outages)

    def crash_fault(
        self, index: int, workers: int, restart_after_s: float | None, now: float
    ) -> None:
        """Log the start of a worker-crash fault (the engine then crashes the victims)."""
        self._emit(
            {
                "seq": 0,
                "t": now,
                "event": FAULT_STARTED,
                "fault": index,
                "kind": "worker_crash",
                "workers": workers,
                "restart_after": restart_after_s,
            }
        )

    # -- accounting ------------------------------------------------------------

    def is_drained(self) -> bool:
        """Nothing ready, nothing waiting for a retry, nothing running, no call outstanding.

        A call its attempt abandoned is still served: the run lasts until it is, so that
        the log shows every call a dependency served.
        """
        return (
            not self.ready
            and not self.waiting_retries
            and all(a is None for a in self.current)
            and (self.steps is None or self.steps.is_idle())
        )

    def totals(self) -> dict[str, int]:
        """The run's counters, as written in `run_finished`."""
        return run_totals(
            {
                "submitted": self.submitted,
                "succeeded": self.succeeded,
                "dead_lettered": self.dead_lettered,
                "started": self.started,
                "failed": self.failed,
                "retried": self.retried,
                # Only a Redis lease can expire: the memory backend never redelivers a task.
                "redelivered": 0,
            }
        )
