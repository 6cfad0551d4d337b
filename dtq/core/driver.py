"""What each action on the agenda does to a memory scheduler.

`LocalDriver` puts a run's arrivals and fault edges on the scheduler's agenda and
carries out one action per `step`. The virtual and threaded engines both drive it, so
they carry out the same actions in the same order; they differ only in how they wait
for the next one and in who ends attempts (the virtual clock schedules ATTEMPT_END
actions; on the real clock a worker thread ends its attempt when its run is over).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Any

from dtq.core.agenda import ARRIVAL, FAULT_EDGE, RETRY_RELEASE, WORKER_RESTART, Agenda
from dtq.core.plan import Plan
from dtq.core.scheduler import Scheduler
from dtq.core.task import Attempt, Task
from dtq.core.timeline import FaultEdge, apply_fault_edge, end_open_outages, fault_timeline

# A handler carries out one action (due at `at`) at `now`; it returns the worker the
# action freed or brought back (to take work now), NOBODY, or KILLED when a crash fault
# killed workers (listed in `LocalDriver.killed` until the engine clears it).
Handler = Callable[[float, Any, float], int]
NOBODY = -1
KILLED = -2


class LocalDriver:
    """Carries out a run's timed actions on a `Scheduler`, one `step` at a time."""

    def __init__(self, sched: Scheduler, plan: Plan, tasks: Iterator[tuple[float, Task]]) -> None:
        self.sched = sched
        self.agenda: Agenda = sched.agenda
        # The workload, next arrival first (the virtual engine's loop reads it too).
        self.tasks = tasks
        self.arrivals_left = self.agenda.schedule_arrival(tasks)
        # Scheduled in timeline order, so the counter keeps it for edges at one instant.
        for edge in fault_timeline(plan):
            self.agenda.schedule(edge.t, FAULT_EDGE, edge)
        self.killed: list[int] = []  # workers crash faults killed since the engine last looked
        self.restarts = 0  # worker restarts still on the agenda
        # Indexed by kind: the table to extend with a new kind of action.
        steps = sched.steps
        self.handlers: tuple[Handler, ...] = (
            self._end,
            steps.call_ended if steps is not None else self._never,
            steps.step_ended if steps is not None else self._never,
            steps.timed_out if steps is not None else self._never,
            self._edge,
            self._restart,
            self._release,
            self._arrive,
        )

    def step(self, now: float) -> int:
        """Carry out the earliest action at `now`; returns what its handler returns."""
        at, kind, item = self.agenda.pop()
        return self.handlers[kind](at, item, now)

    def is_done(self) -> bool:
        """Every task has arrived and ended (faults or restarts still to come change nothing)."""
        return not self.arrivals_left and self.sched.is_drained()

    def restart_at(self, at: float, worker: int) -> None:
        """Plan the return of a crashed worker."""
        self.restarts += 1
        self.agenda.schedule(at, WORKER_RESTART, worker)

    def finish(self, now: float) -> None:
        """End of the run: close the outage windows still open."""
        end_open_outages(self.sched, now)

    # -- handlers, one per kind -------------------------------------------------------

    def _never(self, _at: float, item: Any, _now: float) -> int:
        raise AssertionError(f"a step action ({item!r}) in a run without steps")

    def _end(self, _at: float, attempt: Attempt, now: float) -> int:
        return attempt.worker if self.sched.finish(attempt, now) else NOBODY

    def _edge(self, _at: float, edge: FaultEdge, now: float) -> int:
        victims = apply_fault_edge(self.sched, edge, now)
        if not victims:
            return NOBODY
        self.killed.extend(victims)
        crash = edge.crash
        if crash is not None and crash.restart_after_s is not None:
            for worker in sorted(victims):
                self.restart_at(now + crash.restart_after_s, worker)
        return KILLED

    def _restart(self, _at: float, worker: int, now: float) -> int:
        self.restarts -= 1
        self.sched.restart_worker(worker, now)
        return worker

    def _release(self, at: float, task: Task, now: float) -> int:
        # Retries due together are released together, as Redis's tick releases them.
        due = [(at, task)]
        heap = self.agenda.heap
        while heap and heap[0][1] == RETRY_RELEASE and heap[0][0] <= now:
            more_at, _, more = self.agenda.pop()
            due.append((more_at, more))
        self.sched.release_due(due, now)
        return NOBODY

    def _arrive(self, _at: float, task: Task, now: float) -> int:
        self.sched.submit(task, now)
        # Agenda.schedule_arrival written out: this runs once per task.
        entry = next(self.tasks, None)
        if entry is None:
            self.arrivals_left = False
        else:
            agenda = self.agenda
            heapq.heappush(agenda.heap, (entry[0], ARRIVAL, next(agenda.counter), entry[1]))
        return NOBODY
