"""The virtual-clock engine: discrete events on one thread, driving the same pure core.

Time jumps from one event to the next. At equal times the order is fixed (completions,
fault edges, worker restarts, due retries, arrivals; then insertion order through a
counter, as simpy does), so the same scenario and seed give the same log line for line.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from dtq.core.plan import Plan
from dtq.core.scheduler import Scheduler
from dtq.core.task import Attempt, Task
from dtq.core.timeline import apply_fault_edge, end_open_outages, fault_timeline
from dtq.engine.common import SchedulerEngine, stall_message
from dtq.errors import RunStalled
from dtq.events import STATUS_COMPLETED, STATUS_FAILED, STATUS_INTERRUPTED
from dtq.log.sink import EventSink

_INF = float("inf")
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
        self._tasks = tasks
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

    def _loop(self) -> str:
        sched = self.sched
        workers = self._plan.workers
        for worker in range(workers):
            sched.worker_started(worker, 0.0)
        idle = list(range(workers))  # a heap: the lowest idle worker takes the next task
        running: list[tuple[float, int, Attempt]] = []
        restarts: list[tuple[float, int]] = []
        edges = fault_timeline(self._plan)
        done_edges = 0
        tasks = self._tasks
        arrival = next(tasks, None)
        arrival_t = arrival[0] if arrival is not None else _INF
        counter = 0
        steps = 0
        now = 0.0
        heappush, heappop = heapq.heappush, heapq.heappop
        sink = self.sink
        pending, batch_size = sink.pending, sink.batch_size
        edge_t = edges[0].t if edges else _INF
        while True:
            steps += 1
            if steps % _STOP_CHECK_EVERY == 0 and self._stop_requests:
                self.clock = now
                return STATUS_INTERRUPTED
            if len(pending) >= batch_size:
                sink.flush()
            if arrival is None and not sched.ready and not sched.delayed and sched.is_drained():
                break  # faults or restarts still to come change nothing once the work is done
            # Pick the earliest source; on ties the earlier source in this list wins.
            next_t = running[0][0] if running else _INF
            source = 0
            if edge_t < next_t:
                next_t, source = edge_t, 1
            restart_t = restarts[0][0] if restarts else _INF
            if restart_t < next_t:
                next_t, source = restart_t, 2
            due_t = sched.delayed.next_at()
            if due_t is not None and due_t < next_t:
                next_t, source = due_t, 3
            if arrival_t < next_t:
                next_t, source = arrival_t, 4
            if next_t == _INF:
                if sched.ready:
                    self._failure = RunStalled(stall_message(sched))
                    return STATUS_FAILED
                break
            # Kept on self at every step: a failure mid-run still ends the log at this time.
            self.clock = now = next_t
            if source == 0:
                attempt = heappop(running)[2]
                if sched.finish(attempt, now):
                    heappush(idle, attempt.worker)
            elif source == 1:
                edge = edges[done_edges]
                done_edges += 1
                edge_t = edges[done_edges].t if done_edges < len(edges) else _INF
                victims = apply_fault_edge(sched, edge, now)
                if victims:
                    idle = [w for w in idle if w not in victims]
                    heapq.heapify(idle)
                    crash = edge.crash
                    if crash is not None and crash.restart_after_s is not None:
                        for worker in victims:
                            heappush(restarts, (now + crash.restart_after_s, worker))
            elif source == 2:
                worker = heappop(restarts)[1]
                sched.restart_worker(worker, now)
                heappush(idle, worker)
            elif source == 3:
                sched.release_due(now)
            else:
                assert arrival is not None
                sched.submit(arrival[1], now)
                arrival = next(tasks, None)
                arrival_t = arrival[0] if arrival is not None else _INF
            # Dispatch: idle workers take ready tasks, lowest worker number first.
            while idle and sched.ready:
                worker = heappop(idle)
                started = sched.start_next(worker, now)
                if started is None:  # pragma: no cover - ready was checked above
                    heappush(idle, worker)
                    break
                counter += 1
                heappush(running, (now + started.run_s, counter, started))
        end_open_outages(sched, edges, done_edges, now)
        self.clock = now
        return STATUS_COMPLETED
