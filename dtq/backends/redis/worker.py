"""Worker threads that serve one run from Redis, in `dtq run` or in a `dtq worker` process.

Each thread is one worker: it settles the attempts it finished and claims its next ones
in one script call, draws each attempt's duration and failure from the pure core, and
sleeps the attempt's duration on the scenario clock. One heartbeat thread per process
renews the workers' registrations and leases, so a process that dies (even `kill -9`)
stops renewing them and its tasks are delivered again after the visibility timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dtq.backends.redis.steps import StepRunner
from dtq.backends.redis.store import AttemptReport, Claim, RunStore
from dtq.core.attempts import draw_attempt, failure_decision, parse_task_id
from dtq.core.plan import OutageWindow, Plan, TaskKind
from dtq.core.retry import dead_letter_reason
from dtq.events import ERROR_CRASH

# Attempts claimed together at most (only attempts that take no time are batched).
CLAIM_BATCH = 50
# How long an idle worker blocks waiting for a wake-up before it looks again.
IDLE_WAIT_S = 0.25
RUNNING = "running"


@dataclass
class _Slot:
    """One worker thread's state shared with the heartbeat thread."""

    name: str
    wakeup: threading.Event = field(default_factory=threading.Event)
    held: list[tuple[str, int]] = field(default_factory=list)
    attempts: int = 0


class WorkerPool:
    """`count` worker threads of this process, plus their heartbeat thread."""

    def __init__(
        self,
        store: RunStore,
        plan: Plan,
        *,
        count: int,
        time_scale: float,
        visibility_timeout_s: float,
        host: str,
    ) -> None:
        self._store = store
        self._plan = plan
        self._count = count
        self._scale = time_scale
        self._host = host
        self._heartbeat_s = max(0.05, min(1.0, visibility_timeout_s / 3.0))
        self._lost_reason = dead_letter_reason(plan.retry, ERROR_CRASH)
        self._outages = {o.index: o for o in plan.outages}
        self._steps = StepRunner(store, plan, time_scale=time_scale)
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._threads: list[threading.Thread] = []
        self._stop_claiming = threading.Event()
        self._abandon = threading.Event()
        self._done = threading.Event()
        self._live = 0
        self.final_state: str | None = None
        self.coordinator_silent_s = 0.0  # when the run was found abandoned
        self.failure: BaseException | None = None

    @property
    def names(self) -> list[str]:
        """The workers' names in the run (`w01` ...)."""
        return [slot.name for slot in self._slots]

    @property
    def attempts(self) -> int:
        """Attempts this pool's workers ran to their end."""
        return sum(slot.attempts for slot in self._slots)

    def start(self) -> str:
        """Join the run and start the threads; returns the run's state (not running: none)."""
        if self._count == 0:
            self._done.set()
            return RUNNING
        state, names = self._store.join(self._count, self._host)
        if state != RUNNING:
            self.final_state = state
            self._done.set()
            return state
        self._slots = [_Slot(name) for name in names]
        self._live = len(self._slots)
        for slot in self._slots:
            self._spawn(self._serve, slot, name=slot.name)
        self._spawn(self._beat, None, name="heartbeat")
        return state

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until every worker thread ended; False on timeout."""
        return self._done.wait(timeout_s)

    def stop(self, *, grace_s: float = 0.0) -> None:
        """Stop claiming; let running attempts finish for `grace_s`, then abandon them."""
        self._stop_claiming.set()
        if grace_s > 0:
            self._done.wait(grace_s)
        self._abandon.set()
        for slot in self._slots:
            slot.wakeup.set()
        for thread in self._threads:
            thread.join(timeout=2.0)

    def leave(self) -> None:
        """Leave a run still going: leases still held are given back at once."""
        if self.final_state is not None or not self._slots:
            return
        with self._lock:
            leases = [(task_id, n, s.name) for s in self._slots for task_id, n in s.held]
        self._store.leave(self._lost_reason, self.names, leases)

    # -- threads -------------------------------------------------------------------------

    def _spawn(self, target: Callable[[Any], None], arg: Any, *, name: str) -> None:
        thread = threading.Thread(target=self._guard, args=(target, arg), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guard(self, target: Callable[[Any], None], arg: Any) -> None:
        try:
            target(arg)
        except BaseException as exc:  # Redis gone for good, or a bug: stop the pool, never hang
            with self._lock:
                if self.failure is None:
                    self.failure = exc
            self._stop_claiming.set()
            self._abandon.set()
            for slot in self._slots:
                slot.wakeup.set()
        finally:
            if arg is not None:
                with self._lock:
                    self._live -= 1
                    if self._live == 0:
                        self._done.set()

    def _serve(self, slot: _Slot) -> None:
        outcomes: list[AttemptReport] = []
        while True:
            want = 0 if self._stop_claiming.is_set() else CLAIM_BATCH
            if want == 0 and not outcomes:
                return
            claim = self._store.work(slot.name, outcomes, want)
            settled = {(o[0], o[1]) for o in outcomes}
            with self._lock:
                slot.held = [a for a in slot.held if a not in settled] + claim.attempts
            outcomes = []
            if claim.state != RUNNING:
                self.final_state = claim.state
                self._stop_claiming.set()
                return
            if not claim.attempts:
                self._idle(slot, down=claim.down)
            elif not self._abandon.is_set():
                slot.wakeup.clear()
                self._run_attempts(slot, claim, outcomes)

    def _idle(self, slot: _Slot, *, down: bool) -> None:
        if self._stop_claiming.is_set():
            return
        if down:
            # Held down by a crash fault: look again later; wake-ups are for live workers.
            slot.wakeup.wait(IDLE_WAIT_S)
            return
        self._store.wait_for_work(IDLE_WAIT_S)

    def _run_attempts(self, slot: _Slot, claim: Claim, outcomes: list[AttemptReport]) -> None:
        """Run the claimed attempts in turn, adding each outcome to `outcomes`."""
        plan = self._plan
        outages = [self._outages[i] for i in claim.outages if i in self._outages]
        for task_id, number in claim.attempts:
            kind, key = parse_task_id(plan, task_id)
            if kind.steps is not None:
                task = (task_id, kind, key, number)
                outcome = self._steps.run(slot.name, task, outages, slot.wakeup)
            else:
                outcome = self._run_one(slot, (task_id, kind, key, number), outages)
            if outcome is None:
                if not self._abandon.is_set():
                    # A crash fault cut it and already failed it (or its lease simply
                    # expires): stop renewing what this worker no longer runs.
                    done = {(o[0], o[1]) for o in outcomes}
                    with self._lock:
                        slot.held = [a for a in slot.held if a in done]
                return
            outcomes.append(outcome)
            slot.attempts += 1

    def _run_one(
        self, slot: _Slot, task: tuple[str, TaskKind, int, int], outages: list[OutageWindow]
    ) -> AttemptReport | None:
        """Sleep one attempt's drawn duration; its outcome, or None when it was cut."""
        task_id, kind, key, number = task
        run_s, error, message = draw_attempt(kind, key, number, outages)
        if run_s > 0 and slot.wakeup.wait(run_s / self._scale):
            return None
        if error is None:
            return (task_id, number, True, "", "", False, 0.0, "", "", None)
        decision = failure_decision(self._plan.retry_for(kind.name), key, number, error)
        return (
            task_id,
            number,
            False,
            error,
            message,
            decision.retry,
            decision.delay_s,
            decision.reason,
            "",
            None,
        )

    def _beat(self, _arg: None) -> None:
        while not self._done.wait(self._heartbeat_s):
            with self._lock:
                names = [s.name for s in self._slots]
                leases = [(task_id, n, s.name) for s in self._slots for task_id, n in s.held]
            beat = self._store.heartbeat(names, leases)
            if beat.state != RUNNING:
                self.coordinator_silent_s = beat.silent_s
                self.final_state = beat.state
                self._stop_claiming.set()
                for slot in self._slots:
                    slot.wakeup.set()
                return
            for slot in self._slots:
                if slot.name in beat.down:
                    slot.wakeup.set()
