"""A Redis worker running an attempt made of steps: local work, then calls, in order.

Work steps are slept on the scenario clock. A call goes to the dependency's state in
Redis (the call script): it starts at once, joins the line, or is turned away. A call
in line waits on the worker's turn list, whose entry the script that frees a slot for
it pushes; every wait has a deadline (the attempt's timeout, which covers waiting in
line, and a short slice so that a crash or a stop is seen). When a call's service and
its attempt's timeout end is the run clock's: Redis ends the call when its service time
is over, and abandons it when its attempt's time runs out first, however late the
worker is to notice; the worker sleeps its estimate and asks. An attempt that runs out
of time reports `timeout`: the script that settles it leaves its call at the dependency
(or cancels it), in the same step. What is drawn (work times, latencies, failures, the
outage draw) is the pure core's, keyed like on the memory engines.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from dtq.backends.redis.store import AttemptReport, RunStore
from dtq.core.attempts import draw_attempt, failure_decision
from dtq.core.draws import STREAM_FAILURE, uniform
from dtq.core.plan import CallStep, OutageWindow, Plan, TaskKind
from dtq.core.steps import CALL_OK, step_key
from dtq.errors import BackendError
from dtq.events import ERROR_CONFLICT, ERROR_TIMEOUT

# A wait in line is cut into slices this long (wall seconds): a crash fault or a stop
# is seen within one, whatever the attempt's timeout.
TURN_SLICE_S = 0.25
# A call still in service by the run clock is asked about again after at least this
# (wall seconds), so that a worker whose clock runs ahead does not spin.
_MIN_POLL_S = 0.001
GONE = "gone"
SERVING = "serving"
TIMEOUT = "timeout"


class _Cut(Exception):
    """The attempt is no longer this worker's (a crash fault, a lost lease, a stop)."""


class _TimedOut(Exception):
    """The attempt's timeout ran out."""


@dataclass(frozen=True)
class _Failure:
    error: str
    message: str
    dependency: str = ""
    retry_after_s: float | None = None


@dataclass
class _Attempt:
    """One stepped attempt on this worker, and its wall-clock deadline (None: no timeout)."""

    worker: str
    task_id: str
    number: int
    kind: TaskKind
    key: int
    deadline: float | None
    wakeup: threading.Event


class StepRunner:
    """Runs stepped attempts for the worker threads of one process."""

    def __init__(self, store: RunStore, plan: Plan, *, time_scale: float) -> None:
        self._store = store
        self._plan = plan
        self._scale = time_scale

    def run(
        self,
        worker: str,
        task: tuple[str, TaskKind, int, int],
        outages: list[OutageWindow],
        wakeup: threading.Event,
    ) -> AttemptReport | None:
        """Run attempt `number` of the task; its outcome, or None when it was cut."""
        task_id, kind, key, number = task
        started = time.monotonic()
        timeout_s = kind.timeout_s
        deadline = None if timeout_s is None else started + timeout_s / self._scale
        attempt = _Attempt(worker, task_id, number, kind, key, deadline, wakeup)
        # The task's own failures are drawn when the attempt starts, decided after its steps.
        _, error, message = draw_attempt(kind, key, number, outages)
        try:
            failure = self._steps(attempt)
        except _Cut:
            return None
        except _TimedOut:
            message = f"attempt ran past the {kind.name} timeout of {timeout_s:g}s"
            failure = _Failure(ERROR_TIMEOUT, message)
        if failure is None and error is None:
            return (task_id, number, True, "", "", False, 0.0, "", "", None)
        if failure is None:
            failure = _Failure(error or "", message)
        return self._failed(attempt, failure)

    def _failed(self, attempt: _Attempt, failure: _Failure) -> AttemptReport:
        policy = self._plan.retry_for(attempt.kind.name)
        decision = failure_decision(policy, attempt.key, attempt.number, failure.error)
        delay_s = decision.delay_s
        if failure.retry_after_s is not None and delay_s < failure.retry_after_s:
            delay_s = failure.retry_after_s  # a throttled call's retry waits for a token
        return (
            attempt.task_id,
            attempt.number,
            False,
            failure.error,
            failure.message,
            decision.retry,
            delay_s,
            decision.reason,
            failure.dependency,
            failure.retry_after_s,
        )

    def _steps(self, attempt: _Attempt) -> _Failure | None:
        """Every step in order; a failure of a call ends the attempt at once."""
        steps = attempt.kind.steps or ()
        for position, step in enumerate(steps):
            key = step_key(attempt.key, position)
            if isinstance(step, CallStep):
                failure = self._call(attempt, step, key, position)
                if failure is not None:
                    return failure
                continue
            if self._sleep(attempt, step.duration.sample(key, attempt.number)):
                raise _TimedOut
        return None

    def _call(self, attempt: _Attempt, step: CallStep, key: int, position: int) -> _Failure | None:
        dep = self._plan.dependencies[step.dependency]
        service_s = step.latency.sample(key, attempt.number)
        u = uniform(key, attempt.number, STREAM_FAILURE)
        call = f"{attempt.task_id}#{attempt.number}#{position}"
        ref = (attempt.task_id, attempt.number)
        timeout_s = attempt.kind.timeout_s
        store = self._store
        reply = store.offer_call(
            attempt.worker, call, ref, step.dependency, service_s, u, timeout_s
        )
        if reply[0] == GONE:
            raise _Cut
        if reply[0] == TIMEOUT:
            raise _TimedOut
        if reply[0] == "rejected":
            retry_after = float(reply[3]) if reply[3] else None
            return _Failure(reply[1], reply[2], dep.spec.name, retry_after)
        left_s = float(reply[1]) if reply[0] == "started" else self._wait_turn(attempt, call)
        if self._served(attempt, call, left_s) == ERROR_CONFLICT:
            return _Failure(ERROR_CONFLICT, f"{dep.spec.name}: another call wrote first")
        return None

    def _served(self, attempt: _Attempt, call: str, left_s: float) -> str:
        """Wait out the call's service; its outcome (ok | conflict) by the run clock."""
        ref = (attempt.task_id, attempt.number)
        while True:
            timed_out = self._sleep(attempt, left_s)
            # The run clock says when the service is over: ask, even at the deadline.
            answer = self._store.end_call(attempt.worker, call, ref)
            if answer[0] in (CALL_OK, ERROR_CONFLICT):
                return answer[0]
            if answer[0] == GONE:
                raise _Cut
            if answer[0] == TIMEOUT or (answer[0] == SERVING and timed_out):
                raise _TimedOut
            if answer[0] != SERVING:
                raise BackendError(f"the call script answered {answer!r} for call {call}")
            left_s = max(float(answer[1]), _MIN_POLL_S * self._scale)

    def _wait_turn(self, attempt: _Attempt, call: str) -> float:
        """Wait in line until the call gets a slot; its service time (seconds)."""
        while True:
            if attempt.wakeup.is_set():
                raise _Cut
            slice_s = TURN_SLICE_S
            late = False
            if attempt.deadline is not None:
                left = attempt.deadline - time.monotonic()
                # At the deadline, one last look: the slot may have come while this
                # worker was not scheduled (the run clock decides the timeout then).
                late = left <= 0
                slice_s = min(slice_s, max(0.0, left))
            # BLPOP takes whole milliseconds; never 0, which would block for good.
            token = self._store.wait_turn(attempt.worker, max(0.001, slice_s))
            if token is None:
                if late:
                    raise _TimedOut
                continue
            turn, _, service = token.partition(" ")
            if turn == call:
                return float(service)
            # Otherwise a turn of an earlier call of this worker that it gave up: stale.

    def _sleep(self, attempt: _Attempt, scenario_s: float) -> bool:
        """Sleep `scenario_s` on the scenario clock, up to the attempt's deadline; True if
        the deadline came first."""
        if scenario_s <= 0:
            return False
        until = time.monotonic() + scenario_s / self._scale
        deadline = attempt.deadline
        timed_out = deadline is not None and deadline < until
        if deadline is not None and timed_out:
            until = deadline
        if attempt.wakeup.wait(max(0.0, until - time.monotonic())):
            raise _Cut
        return timed_out
