"""The threaded engine: real worker threads on the real clock, driving the pure core.

One lock guards the scheduler and the event sink, so the log's order is the order in
which state changed. Two conditions share that lock: `_work` wakes idle workers,
`_tick` wakes the clock thread (the caller's thread), which waits until the agenda's
next action is due and then carries out every action due by now, in the agenda's
order (dtq/core/agenda.py): the same order as on the virtual clock. Attempts end in
their worker threads, when their run is over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from dtq.core.driver import KILLED, LocalDriver
from dtq.core.plan import Plan
from dtq.core.rounding import round_us
from dtq.core.scheduler import Scheduler
from dtq.core.steps import StepAttempt
from dtq.core.task import Attempt, Task
from dtq.engine.common import SchedulerEngine, stall_message
from dtq.errors import RunStalled
from dtq.events import STATUS_COMPLETED, STATUS_FAILED, STATUS_INTERRUPTED
from dtq.log.sink import EventSink

Execute = Callable[[Attempt], None]
Clock = Callable[[], float]

# The clock thread never sleeps longer than this, so a stop request is seen promptly.
_POLL_S = 0.05
# Actions carried out per lock hold: a huge burst must not starve the workers.
_STEP_CHUNK = 2000


class ThreadedEngine(SchedulerEngine):
    """Runs a plan with `workers` threads; `time_scale` 10 runs ten times faster than written."""

    def __init__(
        self,
        plan: Plan,
        tasks: Iterator[tuple[float, Task]],
        sink: EventSink,
        *,
        time_scale: float = 1.0,
        execute: Execute | None = None,
        grace_s: float = 1.0,
        flush_interval_s: float = 0.1,
        clock: Clock = time.perf_counter,
    ) -> None:
        # Events go straight onto the sink's queue (a C call, not a Python one per event);
        # whoever holds the lock and sees a full batch flushes it (`_flush_if_full`).
        super().__init__(Scheduler(plan, sink.pending.append, workers=plan.workers))
        self._work = threading.Condition(self._lock)
        self._tick = threading.Condition(self._lock)
        self.sink = sink
        self._plan = plan
        self.driver = LocalDriver(self.sched, plan, tasks)
        self._clock = clock
        self._scale = time_scale
        self._execute = execute
        self._grace_s = grace_s
        self._flush_interval_s = flush_interval_s
        self._t0 = 0.0
        self._stopping = False
        self._generation = [0] * plan.workers
        self._wakeups = [threading.Event() for _ in range(plan.workers)]
        # A worker on an attempt made of steps waits for the agenda to end it (steps.py).
        self._over = [threading.Event() for _ in range(plan.workers)]
        if self.sched.steps is not None:
            self.sched.steps.on_over = self._attempt_over
        self._threads: list[threading.Thread] = []

    # -- public ----------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the start, on the scenario clock."""
        return round_us((self._clock() - self._t0) * self._scale)

    def run(self) -> str:
        """Run to the end (or a stop request); returns the run status."""
        self._t0 = self._clock()
        stop_flusher = threading.Event()
        flusher = threading.Thread(target=self._flush_loop, args=(stop_flusher,), daemon=True)
        with self._lock:
            for worker in range(self._plan.workers):
                self.sched.worker_started(worker, 0.0)
                self._spawn(worker)
        flusher.start()
        try:
            status = self._clock_loop()
            if status == STATUS_INTERRUPTED:
                self._grace()
        finally:
            self._shut_down()
            stop_flusher.set()
            flusher.join(timeout=5.0)
        if self._failure is not None:
            return STATUS_FAILED
        return status

    # -- the clock thread --------------------------------------------------------

    def _clock_loop(self) -> str:
        sched, driver = self.sched, self.driver
        with self._lock:
            while True:
                if self._failure is not None:
                    return STATUS_FAILED
                if self._stop_requests:
                    return STATUS_INTERRUPTED
                now = self.now()
                steps = self._carry_out(now)
                self._flush_if_full()
                if steps:
                    # A step may release several retries at once: wake one worker per task.
                    self._work.notify(max(steps, len(sched.ready)))
                if driver.is_done():
                    driver.finish(now)
                    return STATUS_COMPLETED
                if sched.ready and all(sched.down) and not driver.restarts:
                    self._failure = RunStalled(stall_message(sched))
                    return STATUS_FAILED
                if steps >= _STEP_CHUNK:
                    self._tick.wait(0)
                    continue
                due_s = (driver.agenda.next_t() - now) / self._scale
                self._tick.wait(max(0.0, min(_POLL_S, due_s)))

    def _carry_out(self, now: float) -> int:
        """Every action due by `now`, in the agenda's order (up to a chunk); how many."""
        driver = self.driver
        heap = driver.agenda.heap
        steps = 0
        while heap and heap[0][0] <= now and steps < _STEP_CHUNK:
            back = driver.step(now)
            steps += 1
            if back >= 0:
                self._spawn(back)
            elif back == KILLED:
                for worker in driver.killed:
                    self._kill(worker)
                driver.killed.clear()
        return steps

    def _attempt_over(self, attempt: Attempt) -> None:
        """The agenda ended a stepped attempt: its worker may take the next task."""
        self._over[attempt.worker].set()

    def _kill(self, worker: int) -> None:
        """A crash fault killed `worker`: end its thread (the driver plans its restart)."""
        self._generation[worker] += 1
        self._wakeups[worker].set()
        self._over[worker].set()
        # An idle victim waits on `_work`: wake everyone so it sees it is gone.
        self._work.notify_all()

    # -- workers -----------------------------------------------------------------

    def _spawn(self, worker: int) -> None:
        self._generation[worker] += 1
        wakeup = threading.Event()
        self._wakeups[worker] = wakeup
        thread = threading.Thread(
            target=self._worker_loop,
            args=(worker, self._generation[worker], wakeup),
            name=self.sched.names[worker],
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()

    def _worker_loop(self, worker: int, generation: int, wakeup: threading.Event) -> None:
        try:
            self._serve(worker, generation, wakeup)
        except BaseException as exc:  # a bug in the scheduler: stop the run, never hang
            with self._lock:
                if self._failure is None:
                    self._failure = exc
                self._tick.notify()

    def _serve(self, worker: int, generation: int, wakeup: threading.Event) -> None:
        sched = self.sched
        work = self._work
        pending, batch_size = self.sink.pending, self.sink.batch_size
        attempt: Attempt | None = None
        while True:
            with self._lock:
                now = self.now()
                if attempt is not None:
                    sched.finish(attempt, now)
                    if attempt.error is not None:
                        # It may have put a retry on the agenda due before the clock
                        # thread's next wake-up: let it work out its wait again.
                        self._tick.notify()
                    if not sched.ready and sched.is_drained():
                        self._tick.notify()
                    if len(pending) >= batch_size:
                        self.sink.flush()
                while True:
                    if self._stopping or self._generation[worker] != generation:
                        if sched.ready:
                            work.notify()  # pass on a wake-up meant for a live worker
                        return
                    attempt = sched.start_next(worker, now)
                    if attempt is not None:
                        break
                    work.wait()
                    now = self.now()
                if attempt.task.kind.steps is not None:
                    attempt = self._begin_steps(attempt, now)
                    if attempt is None:
                        continue
            if not self._run_attempt(attempt, wakeup):
                return

    def _begin_steps(self, attempt: Attempt, now: float) -> Attempt | None:
        """Start a stepped attempt (the caller holds the lock); None if it ended at once."""
        assert self.sched.steps is not None
        self._over[attempt.worker].clear()
        assert isinstance(attempt, StepAttempt)  # start_next makes one for a stepped type
        stepped = self.sched.steps.begin(attempt, now)
        # Its steps are on the agenda now, perhaps due before the clock thread's next look.
        self._tick.notify()
        return stepped

    def _run_attempt(self, attempt: Attempt, wakeup: threading.Event) -> bool:
        """Execute outside the lock; False if the worker died meanwhile."""
        if attempt.task.kind.steps is not None:
            self._over[attempt.worker].wait()
            return not wakeup.is_set()
        if attempt.run_s > 0 and wakeup.wait(attempt.run_s / self._scale):
            return False  # killed by a crash fault: the scheduler already failed the attempt
        if self._execute is not None:
            try:
                self._execute(attempt)
            except BaseException as exc:  # even SystemExit: task code ends a worker, not a run
                self._worker_raised(attempt, exc)
                return False
        return True

    def _worker_raised(self, attempt: Attempt, exc: BaseException) -> None:
        """The task code raised: the worker dies, its task fails with `crash`, it restarts."""
        worker = attempt.worker
        with self._lock:
            if self.sched.current[worker] is not attempt or self._stopping:
                return
            now = self.now()
            self.sched.crash_worker(worker, now, f"worker raised {type(exc).__name__}: {exc}")
            self._generation[worker] += 1
            self.driver.restart_at(now, worker)
            self._tick.notify()

    # -- stopping ------------------------------------------------------------------

    def _grace(self) -> None:
        """Let running attempts finish for a short while; a second stop request cuts it."""
        requests = self._stop_requests
        deadline = time.monotonic() + self._grace_s
        with self._lock:
            self._stopping = True
            self._work.notify_all()
            while any(a is not None for a in self.sched.current):
                left = deadline - time.monotonic()
                if left <= 0 or self._stop_requests > requests or self._failure is not None:
                    break
                self._tick.wait(min(_POLL_S, left))

    def _shut_down(self) -> None:
        """Stop every worker; attempts still running stay pending in the log."""
        with self._lock:
            self._stopping = True
            self.sched.closed = True
            for wakeup in self._wakeups:
                wakeup.set()
            self._work.notify_all()
        for thread in self._threads:
            thread.join(timeout=0.5)

    def _flush_if_full(self) -> None:
        """Write the queued events once they fill a batch (the caller holds the lock)."""
        if len(self.sink.pending) >= self.sink.batch_size:
            self.sink.flush()

    def _flush_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self._flush_interval_s):
            with self._lock:
                try:
                    self.sink.flush()
                except BaseException as exc:  # a full disk: stop the run cleanly
                    if self._failure is None:
                        self._failure = exc
                    self._tick.notify()
                    return
