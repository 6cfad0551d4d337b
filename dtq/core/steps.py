"""Attempts made of steps: local work, then calls to dependencies, in order.

A task type with `steps` has no single drawn duration: its attempt runs its steps one
after another, and a call's fate depends on everyone else calling the same dependency
(a free slot, a place in line, a token, a version nobody else wrote). So the attempt is
driven by actions on the run's agenda: STEP_END when local work is over, CALL_END when
a dependency answers, ATTEMPT_TIMEOUT when the task type's timeout (which covers the
whole attempt, waiting in line included) runs out. Every engine carries out the same
actions in the agenda's one order.

A timed-out attempt frees its worker at once, but its call stays at the dependency,
keeping its place in line and then its slot until served (`abandoned: continue`, as a
server does not know the client gave up), unless the dependency cancels abandoned calls.
That wasted work is what sustains a metastable failure.

Draws stay keyed: step `i` of attempt `k` of task X draws from X's key mixed with `i`,
so the same scenario and seed give the same log line for line.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dtq.core.agenda import ATTEMPT_TIMEOUT, CALL_END, STEP_END
from dtq.core.dependency import Call, Dependency
from dtq.core.draws import GOLDEN_GAMMA, MASK_64, STREAM_FAILURE, uniform
from dtq.core.plan import CallStep, DependencyFault, Plan, Step
from dtq.core.rounding import round_us
from dtq.core.task import Attempt
from dtq.events import (
    CALL_ENDED,
    CALL_STARTED,
    ERROR_CONFLICT,
    ERROR_TIMEOUT,
    FAULT_ENDED,
    FAULT_STARTED,
    Event,
)

if TYPE_CHECKING:
    from dtq.core.scheduler import Scheduler

# What the agenda's step handlers return: the worker an ended attempt freed, or this.
NOBODY = -1
# Outcomes of a call, as `call_ended` writes them.
CALL_OK = "ok"
CALL_CONFLICT = "conflict"
CALL_ABANDONED = "abandoned"
CALL_CANCELLED = "cancelled"


def step_key(key: int, position: int) -> int:
    """The draw key of step `position` of a task with `key` (independent of other steps)."""
    # mix64 written out, as draws.uniform does: this runs for every step of every attempt.
    z = ((key ^ ((position + 1) << 52)) + GOLDEN_GAMMA) & MASK_64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK_64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK_64
    return z ^ (z >> 31)


@dataclass(slots=True, eq=False)
class StepAttempt(Attempt):
    """An attempt of a task type with steps: where it is, and the call it waits on.

    The scheduler makes one in place of a plain `Attempt` when the task type has steps.
    Both are dataclasses so that this one's `__init__` is generated whole, Attempt's
    fields included: no call to the parent's per attempt, and one list of the fields.
    """

    position: int = 0
    call: Call | None = None
    retry_after_s: float = 0.0


class Steps:
    """Runs stepped attempts against the run's dependencies, on the scheduler's agenda."""

    def __init__(self, sched: Scheduler, plan: Plan) -> None:
        self.sched = sched
        self.agenda = sched.agenda
        self.deps = [Dependency(dep.spec) for dep in plan.dependencies]
        self._outages: dict[int, DependencyFault] = {}
        self._open: dict[int, DependencyFault] = {}  # fault windows in force, by fault index
        # Set by an engine whose workers wait for their attempts (the real clock); else the
        # handlers return the worker an ended attempt freed.
        self.on_over: Callable[[Attempt], None] | None = None

    # -- starting -----------------------------------------------------------------------

    def begin(self, attempt: StepAttempt, now: float) -> StepAttempt | None:
        """Start a stepped attempt (the scheduler's `start_next` made it); returns it, or
        None when it ended at once."""
        timeout_s = attempt.task.kind.timeout_s
        if timeout_s is not None:
            self.agenda.schedule(now + timeout_s, ATTEMPT_TIMEOUT, attempt)
        return attempt if self._advance(attempt, now) else None

    # -- the agenda's handlers ------------------------------------------------------------

    def step_ended(self, _at: float, attempt: StepAttempt, now: float) -> int:
        """STEP_END: local work is over; go on with the next step."""
        if not self._is_live(attempt) or self._advance(attempt, now):
            return NOBODY
        return self._over(attempt)

    def call_ended(self, _at: float, call: Call, now: float) -> int:
        """CALL_END: a dependency answered; free the slot and go on (or fail: conflict)."""
        attempt: StepAttempt = call.owner  # type: ignore[assignment]
        dep = self.deps[call.dependency]
        if call.abandoned and dep.spec.cancels_abandoned:
            return NOBODY  # cancelled in service: its slot was freed and its end logged then
        conflict = dep.finish(call)
        started = dep.fill(now) if dep.line else None
        outcome = CALL_ABANDONED if call.abandoned else CALL_CONFLICT if conflict else CALL_OK
        self._emit_ended(dep, call, now, outcome)
        if started:
            self._started(dep, started, now)
        sched = self.sched
        if call.abandoned or sched.closed or sched.current[attempt.worker] is not attempt:
            return NOBODY
        attempt.call = None
        if conflict:
            self._end(attempt, now, ERROR_CONFLICT, f"{dep.spec.name}: another call wrote first")
            return self._over(attempt)
        if attempt.position < len(attempt.task.kind.steps):  # type: ignore[arg-type]
            if self._advance(attempt, now):
                return NOBODY
        elif attempt.error is None:  # the last step was this call, and the attempt succeeds
            sched.finish(attempt, now)
        else:
            self._finish(attempt, now)
        return attempt.worker if self.on_over is None else self._over(attempt)

    def timed_out(self, _at: float, attempt: StepAttempt, now: float) -> int:
        """ATTEMPT_TIMEOUT: the attempt's time is up; its worker gives up on it."""
        if not self._is_live(attempt):
            return NOBODY
        self.abandon(attempt, now)
        timeout_s = attempt.task.kind.timeout_s
        message = f"attempt ran past the {attempt.task.kind.name} timeout of {timeout_s:g}s"
        self._end(attempt, now, ERROR_TIMEOUT, message)
        return self._over(attempt)

    def abandon(self, attempt: Attempt, now: float) -> None:
        """The attempt is over early (timeout, crash): leave its call to the dependency."""
        call = getattr(attempt, "call", None)
        if call is None:
            return
        assert isinstance(attempt, StepAttempt)
        attempt.call = None
        dep = self.deps[call.dependency]
        started = dep.abandon(call, now)
        if dep.spec.cancels_abandoned:
            self._emit_ended(dep, call, now, CALL_CANCELLED)
        self._started(dep, started, now)

    # -- dependency faults -----------------------------------------------------------------

    def fault_edge(self, fault: DependencyFault, starts: bool, now: float) -> None:
        """A slowdown or an outage of a dependency starts or ends."""
        dep = self.deps[fault.dependency]
        event: dict[str, Any] = {
            "seq": 0,
            "t": now,
            "event": FAULT_STARTED if starts else FAULT_ENDED,
            "fault": fault.index,
            "kind": fault.kind,
        }
        if starts:
            event["dependency"] = dep.spec.name
            self._open[fault.index] = fault
        else:
            self._open.pop(fault.index, None)
        if fault.kind == "outage":
            if starts:
                self._outages[fault.dependency] = fault
                event.update(error=fault.error, rate=fault.rate)
            else:
                self._outages.pop(fault.dependency, None)
            self.sched.emit(event)
            return
        if starts:
            event.update(capacity=fault.capacity, latency=fault.latency)
        self.sched.emit(event)
        factor, latency = (fault.capacity, fault.latency) if starts else (1.0, 1.0)
        self._started(dep, dep.scale(factor, latency, now), now)

    def is_idle(self) -> bool:
        """No call in service or in line at any dependency."""
        return all(dep.in_service == 0 and not dep.line for dep in self.deps)

    def end_open_faults(self, now: float) -> None:
        """At the end of a run, close the dependency fault windows still open."""
        for fault in sorted(self._open.values(), key=lambda f: (f.until_s, f.index)):
            self.fault_edge(fault, False, now)

    # -- inside an attempt ---------------------------------------------------------------

    def _advance(self, attempt: StepAttempt, now: float) -> bool:
        """Run steps until one has to wait; False when the attempt ended here."""
        steps: tuple[Step, ...] = attempt.task.kind.steps  # type: ignore[assignment]
        while attempt.position < len(steps):
            position = attempt.position
            attempt.position += 1
            step = steps[position]
            key = step_key(attempt.task.key, position)
            if isinstance(step, CallStep):
                return self._call(attempt, step, key, now)
            work_s = step.duration.sample(key, attempt.number)
            if work_s > 0:
                self.agenda.schedule(now + work_s, STEP_END, attempt)
                return True
        self._finish(attempt, now)
        return False

    def _finish(self, attempt: StepAttempt, now: float) -> None:
        """Every step is done: the attempt ends with the outcome drawn when it started."""
        if attempt.error is None:  # what _end does for a success, two calls shorter
            self.sched.finish(attempt, now)
        else:
            self._end(attempt, now, attempt.error, attempt.message)

    def _call(self, attempt: StepAttempt, step: CallStep, key: int, now: float) -> bool:
        index = step.dependency
        dep = self.deps[index]
        outage = self._outages.get(index) if self._outages else None
        if outage is not None and uniform(key, attempt.number, STREAM_FAILURE) < outage.rate:
            message = f"{dep.spec.name} is down (fault {outage.index})"
            self._end(attempt, now, outage.error, message, dependency=dep.spec.name)
            return False
        service_s = step.latency.sample(key, attempt.number) * dep.latency_factor
        call = Call(attempt, service_s, now, index)
        rejection = dep.offer(call, now)
        if rejection is not None:
            attempt.retry_after_s = rejection.retry_after_s or 0.0
            message = f"{dep.spec.name} turned the call away ({rejection.error})"
            extra: dict[str, Any] = {"dependency": dep.spec.name}
            if rejection.retry_after_s is not None:
                extra["retry_after"] = rejection.retry_after_s
            self._end(attempt, now, rejection.error, message, **extra)
            return False
        attempt.call = call
        if call.started_t is not None:
            self._serve(dep, call, now)
        return True

    def _started(self, dep: Dependency, calls: list[Call], now: float) -> None:
        """Log the calls whose service starts now, and plan their answers."""
        for call in calls:
            self._serve(dep, call, now)

    def _serve(self, dep: Dependency, call: Call, now: float) -> None:
        """Log that `call`'s service starts now, and plan its answer."""
        event = call.event = self._call_event(CALL_STARTED, dep, call, now)
        self.sched.emit(event)
        # Agenda.schedule written out: one call a step shorter, once per call.
        agenda = self.agenda
        heapq.heappush(agenda.heap, (now + call.service_s, CALL_END, next(agenda.counter), call))

    def _end(
        self, attempt: StepAttempt, now: float, error: str | None, message: str, **extra: Any
    ) -> None:
        self.sched.end_attempt(
            attempt, now, error, message, extra=extra or None, min_delay_s=attempt.retry_after_s
        )

    def _over(self, attempt: Attempt) -> int:
        if self.on_over is not None:
            self.on_over(attempt)
            return NOBODY
        return attempt.worker

    def _is_live(self, attempt: Attempt) -> bool:
        return not self.sched.closed and self.sched.current[attempt.worker] is attempt

    def _call_event(self, name: str, dep: Dependency, call: Call, now: float) -> Event:
        """A call event's fields as of now (`_emit_ended` adds an end's own)."""
        attempt: StepAttempt = call.owner  # type: ignore[assignment]
        task = attempt.task
        started_t = call.started_t
        # `Call.waited_s` written out (a property call per event), to the microsecond.
        waited_s = (now if started_t is None else started_t) - call.arrived_t
        event: Event = {
            "seq": 0,
            "t": now,
            "event": name,
            "task_id": task.id,
            "type": task.kind.name,
            "priority": task.priority,
            "attempt": attempt.number,
            "dependency": dep.spec.name,
            "waited_s": round_us(waited_s) if waited_s else waited_s,  # most calls: 0.0
            "in_flight": dep.in_service,
            "line": len(dep.line),
        }
        return event

    def _emit_ended(self, dep: Dependency, call: Call, now: float, outcome: str) -> None:
        """Log `call_ended`: its `call_started` with the end's time, counts and outcome
        (a copy keeps the fields' order; a call never served has its event built)."""
        started = call.event
        if started is None:  # cancelled while still in line
            event = self._call_event(CALL_ENDED, dep, call, now)
            event["outcome"] = outcome
            event["served_s"] = None  # never served
        else:
            call.event = None
            event = started.copy()
            event["t"] = now
            event["event"] = CALL_ENDED
            event["in_flight"] = dep.in_service
            event["line"] = len(dep.line)
            event["outcome"] = outcome
            event["served_s"] = round_us(now - started["t"])
        self.sched.emit(event)
