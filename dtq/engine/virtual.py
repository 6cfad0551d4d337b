"""The virtual-clock engine: discrete events on one thread, driving the same pure core.

Time jumps to the agenda's next action (dtq/core/agenda.py decides which, and the
order of actions at one instant). After each action, idle workers take ready tasks,
lowest worker number first, and each attempt's end goes on the agenda. The same
scenario and seed give the same log line for line.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from dtq.core.agenda import ARRIVAL, ATTEMPT_END
from dtq.core.driver import KILLED, LocalDriver
from dtq.core.plan import Plan
from dtq.core.scheduler import Scheduler
from dtq.core.task import Task
from dtq.engine.common import SchedulerEngine, stall_message
from dtq.errors import RunStalled
from dtq.events import STATUS_COMPLETED, STATUS_FAILED, STATUS_INTERRUPTED
from dtq.log.sink import EventSink

# How many steps between looks at the stop flag (a signal handler sets it).
_STOP_CHECK_EVERY = 1024


class VirtualEngine(SchedulerEngine):
    """Runs a plan on a virtual clock as fast as the CPU allows."""

    def __init__(self, plan: Plan, tasks: Iterator[tuple[float, Task]], sink: EventSink) -> None:
        # One thread runs everything; the lock only matches the threaded engine's interface.
        # Events go straight onto the sink's queue (a C call, not a Python one per event);
        # the loop flushes whenever a batch is full.
        super().__init__(Scheduler(plan, sink.pending.append, workers=plan.workers))
        self.sink = sink
        self._plan = plan
        self.driver = LocalDriver(self.sched, plan, tasks)
        self.clock = 0.0

    def now(self) -> float:
        """The virtual time reached so far."""
        return self.clock

    def run(self) -> str:
        """Run to the end (or a stop request); returns the run status."""
        try:
            return self._loop()
        except Exception as exc:  # a bug in the scheduler: a failed run, never a hang
            self._failure = exc
            return STATUS_FAILED

    # The loop uses the agenda's heap, counter and the driver's handlers inline: one C call
    # per push or pop, where a method call each would cost a tenth of a task's life.
    def _loop(self) -> str:
        sched, driver = self.sched, self.driver
        idle = self._start_workers()
        heap, counter, handlers = driver.agenda.heap, driver.agenda.counter, driver.handlers
        heappush, heappop, finish = heapq.heappush, heapq.heappop, sched.finish
        submit, tasks, ready = sched.submit, driver.tasks, sched.ready
        sink, stepper = self.sink, sched.steps
        pending, batch_size = sink.pending, sink.batch_size
        steps, now = 0, 0.0
        while True:
            steps += 1
            if steps % _STOP_CHECK_EVERY == 0 and self._stop_requests:
                return STATUS_INTERRUPTED
            if len(pending) >= batch_size:
                sink.flush()
            if not heap or (not driver.arrivals_left and sched.is_drained()):
                break  # once the work is done, faults or restarts to come change nothing
            at, kind, _, item = heappop(heap)
            self.clock = now = at  # on self at every step: a failure still ends the log here
            if kind == ATTEMPT_END:  # one per attempt, and this engine's own
                if finish(item, now):
                    heappush(idle, item.worker)
            elif kind == ARRIVAL:  # one per task: the driver's handler written out
                submit(item, now)
                if (entry := next(tasks, None)) is not None:
                    heappush(heap, (entry[0], ARRIVAL, next(counter), entry[1]))
                else:
                    driver.arrivals_left = False
            else:
                freed = handlers[kind](at, item, now)
                if freed >= 0:
                    heappush(idle, freed)
                elif freed == KILLED:
                    idle = self._without_killed(idle)
            while idle and ready.size:
                worker = heappop(idle)
                started = sched.start_next(worker, now)
                if started is None:  # every ready task had expired
                    heappush(idle, worker)
                    break
                if started.task.kind.steps is None:
                    heappush(heap, (now + started.run_s, ATTEMPT_END, next(counter), started))
                elif stepper.begin(started, now) is None:  # type: ignore[union-attr, arg-type]
                    heappush(idle, worker)  # it ended at once (a call turned away)
        if sched.ready:  # the agenda ran dry with tasks still ready: they can never start
            self._failure = RunStalled(stall_message(sched))
            return STATUS_FAILED
        driver.finish(now)
        self.clock = now
        return STATUS_COMPLETED

    def _start_workers(self) -> list[int]:
        """Log every worker's start; all are idle (a heap: the lowest goes first)."""
        for worker in range(self._plan.workers):
            self.sched.worker_started(worker, 0.0)
        return list(range(self._plan.workers))

    def _without_killed(self, idle: list[int]) -> list[int]:
        """The idle heap minus the workers a crash fault just killed."""
        killed = set(self.driver.killed)
        self.driver.killed.clear()
        kept = [w for w in idle if w not in killed]
        heapq.heapify(kept)
        return kept
