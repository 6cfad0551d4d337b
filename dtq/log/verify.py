"""`dtq verify`: check an event log against the contract's invariants in one streaming pass.

The log is read a line at a time (`dtq.log.reader`). Each task keeps one small int of state
(phase, attempt count and the line of its last event), so memory grows with the number of
tasks, never with the number of lines. The same pass folds every event through the one
reducer (`RunState`) and compares the result with `run_finished.totals` at the end.

The per-task state machine below is a deliberate second, independent reading of the log,
not a copy of the reducer: it re-derives each task's life (queued, running, retrying,
ended) from the contract alone, so a bug in `RunState` or in an engine shows up as a
disagreement instead of being repeated. Do not replace it with calls into `dtq.fold`;
only `duplicate runs` (a count, not a check) is taken from the reducer.

A log without `run_finished` is *unfinished* (the run was killed, or is still running), not
corrupt: its events are checked all the same, and tasks that had not ended are pending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from dtq import events as ev
from dtq.errors import LogFormatError
from dtq.events import TOTAL_KEYS, Event, field_problem
from dtq.fold.state import RunState
from dtq.log.reader import LogReader
from dtq.log.verify_calls import CallChecks

# A task's phase is the low three bits of its state.
QUEUED: Final = 0  # submitted, retry ready or redelivered: waiting for a worker
RUNNING: Final = 1  # an attempt runs on a worker
RETRYING: Final = 2  # failed, will be retried after its backoff
FAILING: Final = 3  # failed for good: task_dead_lettered comes next
SUCCEEDED: Final = 4
DEAD: Final = 5
_PHASE: Final = 0b111
_REDELIVERED: Final = 0b1000  # a Redis lease was lost at least once: duplicates are allowed
_ATTEMPT_SHIFT: Final = 4
_ATTEMPT_MASK: Final = 0xFFFF  # max_attempts is at most 1000
_LINE_SHIFT: Final = 20

_PHASE_WORDS: Final = {
    QUEUED: "queued",
    RUNNING: "running",
    RETRYING: "waiting for a retry",
    FAILING: "failed for good",
    SUCCEEDED: "succeeded",
    DEAD: "dead-lettered",
}
_ENDED: Final = (SUCCEEDED, DEAD)
STATUSES: Final = (ev.STATUS_COMPLETED, ev.STATUS_INTERRUPTED, ev.STATUS_FAILED)
MAX_KEPT: Final = 20  # violations kept for the message; the rest are only counted


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant: where (line, task) and what."""

    line: int
    task_id: str | None
    message: str

    def render(self, path: Path) -> str:
        """`path:LINE: task ID: message`."""
        where = f"{path}:{self.line}: "
        return where + (f"task {self.task_id}: " if self.task_id else "") + self.message


@dataclass
class Verdict:
    """What `verify_log` found: the counts, the violations, whether the log is finished."""

    path: Path
    events: int = 0
    lines: int = 0
    tasks: int = 0
    status: str | None = None
    backend: str = ""
    truncated: bool = False
    violations: list[Violation] = field(default_factory=list)
    violation_count: int = 0
    ended: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0  # the reducer's duplicate runs (`RunState.duplicates`)
    folded: dict[str, int] = field(default_factory=dict)
    reported: dict[str, int] = field(default_factory=dict)

    @property
    def is_finished(self) -> bool:
        """True when the log ends with `run_finished`."""
        return self.status is not None

    @property
    def is_valid(self) -> bool:
        """Finished and no invariant broken."""
        return self.is_finished and self.violation_count == 0

    @property
    def pending(self) -> int:
        """Tasks submitted that had not ended when the log stops."""
        return self.tasks - self.ended.get("succeeded", 0) - self.ended.get("dead_lettered", 0)

    def counted(self) -> dict[str, int]:
        """The log's own task counts: submitted, succeeded, dead_lettered, pending."""
        return {
            "submitted": self.tasks,
            "succeeded": self.ended.get("succeeded", 0),
            "dead_lettered": self.ended.get("dead_lettered", 0),
            "pending": self.pending,
        }

    def unaccounted(self) -> int:
        """Tasks whose end the log does not account for: pending in a completed run, or
        the most that `run_finished.totals` and the log's own tasks disagree by."""
        missing = self.pending if self.status == ev.STATUS_COMPLETED else 0
        if not self.reported:
            return missing
        counted = self.counted()
        return missing + max(abs(self.reported.get(key, 0) - counted[key]) for key in counted)

    def exit_code(self) -> int:
        """0 valid; 1 a violation or an unfinished log."""
        return 0 if self.is_valid else 1


class LogVerifier:
    """Checks a log's events as they stream past; `verdict()` says what it found."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = RunState()
        self.result = Verdict(path)
        self._tasks: dict[str, int] = {}
        self._running: dict[str, str] = {}  # task id -> worker running it
        self._busy: dict[str, str] = {}  # worker -> task id it runs
        self._seq = 0
        self._t = 0.0
        self._max_attempts = 0  # 0: unknown, not checked
        self._is_redis = False
        self._started_line = 0
        self._finished_line = 0
        self._calls = CallChecks(self._violation)
        self._handlers: dict[str, Callable[[int, Event], None]] = {
            ev.RUN_STARTED: self._run_started,
            ev.RUN_FINISHED: self._run_finished,
            ev.TASK_SUBMITTED: self._submitted,
            ev.TASK_STARTED: self._started,
            ev.TASK_SUCCEEDED: self._attempt_ended,
            ev.TASK_FAILED: self._attempt_ended,
            ev.TASK_RETRY_READY: self._retry_ready,
            ev.TASK_DEAD_LETTERED: self._dead_lettered,
            ev.TASK_REDELIVERED: self._redelivered,
            ev.CALL_STARTED: self._calls.call_started,
            ev.CALL_ENDED: self._calls.call_ended,
            ev.FAULT_STARTED: self._calls.fault_started,
            ev.FAULT_ENDED: self._calls.fault_ended,
        }

    # -- the pass -------------------------------------------------------------------

    def check(self, line: int, event: Event) -> None:
        """Check one event (raise `LogFormatError` if it cannot be read), then fold it."""
        problem = field_problem(event)
        if problem is not None:
            raise LogFormatError(f"{self.path}:{line}: {problem}")
        self.result.events += 1
        self.result.lines = line
        name = event["event"]
        if self.result.events == 1 and name != ev.RUN_STARTED:
            self._violation(line, None, f"the log must start with run_started, not {name}")
        if self._finished_line:
            self._violation(line, None, f"{name} after run_finished (line {self._finished_line})")
        self._check_order(line, event)
        handler = self._handlers.get(name)
        if handler is not None:
            handler(line, event)
        self.state.apply(event)

    def _check_order(self, line: int, event: Event) -> None:
        seq, t = event["seq"], event["t"]
        expected = self._seq + 1
        if seq > expected:
            missing = seq - expected
            self._violation(
                line, None, f"seq jumps from {self._seq} to {seq} ({missing} missing before it)"
            )
        elif seq < expected:
            self._violation(
                line, None, f"seq {seq} after {self._seq}: an event repeated or out of order"
            )
        self._seq = max(self._seq, seq)
        # Redis workers stamp events on their own clocks; only one process keeps order here.
        if t < self._t and not self._is_redis:
            self._violation(line, event.get("task_id"), f"t goes back from {self._t} to {t}")
        self._t = max(self._t, t)

    def _violation(self, line: int, task_id: str | None, message: str) -> None:
        self.result.violation_count += 1
        if len(self.result.violations) < MAX_KEPT:
            self.result.violations.append(Violation(line, task_id, message))

    # -- run events -----------------------------------------------------------------

    def _run_started(self, line: int, event: Event) -> None:
        if self._started_line:
            self._violation(
                line, None, f"a second run_started (the first is on line {self._started_line})"
            )
            return
        self._started_line = line
        self._calls.run_started(event)
        backend = event.get("backend")
        self.result.backend = backend if isinstance(backend, str) else ""
        self._is_redis = self.result.backend.startswith("redis://")
        max_attempts = event.get("max_attempts")
        if isinstance(max_attempts, int) and not isinstance(max_attempts, bool):
            self._max_attempts = max(max_attempts, 0)

    def _run_finished(self, line: int, event: Event) -> None:
        self._finished_line = line
        status = event["status"]
        self.result.status = status
        if status not in STATUSES:
            self._violation(line, None, f"status {status!r} is not one of {', '.join(STATUSES)}")
        totals = event["totals"]
        missing = [key for key in TOTAL_KEYS if not isinstance(totals.get(key), int)]
        if missing:
            self._violation(line, None, f"totals lack {', '.join(missing)}")
            return
        ends = totals["succeeded"] + totals["dead_lettered"] + totals["pending"]
        if totals["submitted"] != ends:
            self._violation(
                line,
                None,
                f"totals do not add up: submitted {totals['submitted']} != succeeded "
                f"{totals['succeeded']} + dead_lettered {totals['dead_lettered']} + pending "
                f"{totals['pending']}",
            )

    # -- task events ----------------------------------------------------------------

    def _submitted(self, line: int, event: Event) -> None:
        task_id = event["task_id"]
        self._calls.submitted(event)
        state = self._tasks.get(task_id)
        if state is not None:
            self._violation(line, task_id, f"submitted again (first on line {_line(state)})")
            return
        self._tasks[task_id] = line << _LINE_SHIFT | QUEUED

    def _started(self, line: int, event: Event) -> None:
        task_id, worker, attempt = event["task_id"], event["worker"], event["attempt"]
        state = self._tasks.get(task_id)
        if state is None:
            self._violation(line, task_id, "task_started without a task_submitted")
            state = _pack(line, attempt - 1, QUEUED)
        phase, attempts = state & _PHASE, _attempts(state)
        if phase != QUEUED and self._is_lenient(state):
            # A second run after a lost lease: allowed (the reducer counts it).
            if phase in _ENDED:
                return  # the task keeps the end it already had
        elif phase == RUNNING:
            self._violation(
                line,
                task_id,
                f"started on {worker} while attempt {attempts} still runs on "
                f"{self._running.get(task_id, '?')} (line {_line(state)})",
            )
        elif phase != QUEUED:
            self._violation(line, task_id, f"task_started {self._while(state)}")
        elif attempt != attempts + 1:
            self._violation(
                line, task_id, f"attempt {attempt} follows attempt {attempts} (they count 1, 2, 3)"
            )
        if self._max_attempts and attempt > self._max_attempts and not state & _REDELIVERED:
            self._violation(
                line, task_id, f"attempt {attempt} is over max_attempts ({self._max_attempts})"
            )
        other = self._busy.get(worker)
        if other is not None and other != task_id and not self._is_redis:
            self._violation(line, task_id, f"{worker} starts it while still running {other}")
        if phase in _ENDED:
            return
        self._tasks[task_id] = _pack(line, attempt, RUNNING | (state & _REDELIVERED))
        self._running[task_id] = worker
        self._busy[worker] = task_id

    def _state_of(self, line: int, event: Event) -> int | None:
        """The state of the event's task; None, and a violation, if it was never submitted."""
        state = self._tasks.get(event["task_id"])
        if state is None:
            name, task_id = event["event"], event["task_id"]
            self._violation(line, task_id, f"{name} for a task never submitted")
        return state

    def _attempt_ended(self, line: int, event: Event) -> None:
        name, task_id = event["event"], event["task_id"]
        state = self._state_of(line, event)
        if state is None:
            return
        worker, attempt = event["worker"], event["attempt"]
        if self._busy.get(worker) == task_id:
            del self._busy[worker]
        phase = state & _PHASE
        runs_on = self._running.get(task_id)
        if phase == RUNNING and worker == runs_on and attempt == _attempts(state):
            del self._running[task_id]
        elif self._is_lenient(state):
            # A lost run ending late: allowed; the first success is the task's end, as
            # the reducer counts it.
            if name == ev.TASK_SUCCEEDED and phase not in _ENDED:
                self._tasks[task_id] = _pack(line, attempt, SUCCEEDED | _REDELIVERED)
            return
        elif phase == RUNNING:
            self._violation(
                line,
                task_id,
                f"{name} of attempt {attempt} on {worker}, but attempt {_attempts(state)} "
                f"runs on {runs_on} (line {_line(state)})",
            )
            self._running.pop(task_id, None)
        else:
            what = "without a task_started" if phase == QUEUED else self._while(state)
            self._violation(line, task_id, f"{name} {what}")
            if phase in _ENDED:
                return
        phase = SUCCEEDED if name == ev.TASK_SUCCEEDED else FAILING
        if name == ev.TASK_FAILED and event["will_retry"]:
            phase = RETRYING
            if self._max_attempts and attempt >= self._max_attempts:
                self._violation(
                    line, task_id, f"will retry after attempt {attempt} of {self._max_attempts}"
                )
        self._tasks[task_id] = _pack(line, attempt, phase | (state & _REDELIVERED))

    def _retry_ready(self, line: int, event: Event) -> None:
        task_id = event["task_id"]
        state = self._state_of(line, event)
        if state is None:
            return
        phase = state & _PHASE
        if phase != RETRYING:
            self._violation(line, task_id, f"task_retry_ready {self._while(state)}")
            if phase in _ENDED:
                return
        elif event["attempt"] != _attempts(state) + 1:
            self._violation(
                line,
                task_id,
                f"retry of attempt {event['attempt']} after attempt {_attempts(state)} failed",
            )
        self._tasks[task_id] = _pack(line, _attempts(state), QUEUED | (state & _REDELIVERED))

    def _dead_lettered(self, line: int, event: Event) -> None:
        task_id = event["task_id"]
        state = self._state_of(line, event)
        if state is None:
            return
        phase = state & _PHASE
        # With Redis, a task whose lease is lost too often is dead-lettered from any phase.
        lost_lease = self._is_redis and event["reason"] == ev.REASON_LOST
        # An expired task waited in the queue past its type's `expires`: it never started.
        expired = event["reason"] == ev.REASON_EXPIRED and phase == QUEUED
        if expired:
            self._calls.check_expired(line, event)
        if phase in _ENDED and self._is_lenient(state):
            return
        if phase == FAILING or expired or (lost_lease and phase not in _ENDED):
            if event["attempts"] != _attempts(state):
                self._violation(
                    line,
                    task_id,
                    f"dead-lettered with attempts {event['attempts']} after attempt "
                    f"{_attempts(state)}",
                )
        else:
            self._violation(line, task_id, f"task_dead_lettered {self._while(state)}")
            if phase in _ENDED:
                return
        self._running.pop(task_id, None)
        self._tasks[task_id] = _pack(line, _attempts(state), DEAD | (state & _REDELIVERED))

    def _redelivered(self, line: int, event: Event) -> None:
        task_id = event["task_id"]
        state = self._tasks.get(task_id)
        if not self._is_redis:
            self._violation(
                line, task_id, "task_redelivered in a memory-backend log (only Redis leases expire)"
            )
        if state is None:
            self._violation(line, task_id, "task_redelivered for a task never submitted")
            return
        if state & _PHASE in _ENDED:
            return  # the lease expired as the task ended: harmless
        worker = self._running.pop(task_id, None)
        if worker is not None and self._busy.get(worker) == task_id:
            del self._busy[worker]
        self._tasks[task_id] = _pack(line, _attempts(state), QUEUED | _REDELIVERED)

    def _is_lenient(self, state: int) -> bool:
        """True for a Redis task redelivered earlier: its lost run may show up late."""
        return self._is_redis and bool(state & _REDELIVERED)

    def _while(self, state: int) -> str:
        """`while <phase> (line N)`: what the task was doing when an event came too early."""
        if not state:
            return "for a task never submitted"
        phase = state & _PHASE
        if phase in _ENDED:
            return f"after the task already {_PHASE_WORDS[phase]} (line {_line(state)})"
        return f"while the task is {_PHASE_WORDS[phase]} (since line {_line(state)})"

    # -- the end ----------------------------------------------------------------------

    def verdict(self, reader: LogReader) -> Verdict:
        """Finish the checks that need the whole log and return the verdict."""
        result = self.result
        result.truncated = reader.truncated
        if reader.truncated:
            result.lines += 1  # the cut line comes after the last one read
        result.tasks = len(self._tasks)
        result.folded = self.state.totals()
        result.duplicates = self.state.duplicates  # the reducer's count, as report shows it
        ended = {"succeeded": 0, "dead_lettered": 0}
        open_tasks: list[tuple[str, int]] = []  # failed for good, plus a few examples
        for task_id, state in self._tasks.items():
            phase = state & _PHASE
            if phase == SUCCEEDED:
                ended["succeeded"] += 1
            elif phase == DEAD:
                ended["dead_lettered"] += 1
            elif phase == FAILING or len(open_tasks) < MAX_KEPT:
                open_tasks.append((task_id, state))
        result.ended = ended
        if self._finished_line:
            self._check_end(open_tasks)
        return result

    def _check_end(self, open_tasks: list[tuple[str, int]]) -> None:
        """Invariants 1 and 4: every task ended (or is pending), the fold equals the totals."""
        line, result = self._finished_line, self.result
        for task_id, state in open_tasks:
            if state & _PHASE == FAILING:
                self._violation(_line(state), task_id, "failed for good but never dead-lettered")
        if result.status == ev.STATUS_COMPLETED and result.pending:
            task_id, state = open_tasks[0]
            self._violation(
                line,
                None,
                f"the run completed with {result.pending} tasks that never ended, e.g. "
                f"{task_id} ({_PHASE_WORDS[state & _PHASE]} since line {_line(state)})",
            )
        totals = self.state.finished.get("totals") if self.state.finished else None
        if not isinstance(totals, dict):
            return
        result.reported = {key: value for key, value in totals.items() if isinstance(value, int)}
        counted = result.counted()
        for key in TOTAL_KEYS:
            said = totals.get(key)
            found = []
            if result.folded[key] != said:
                found.append(f"folding the log gives {result.folded[key]}")
            if key in counted and counted[key] != said:
                found.append(f"the log's tasks give {counted[key]}")
            if found:
                self._violation(line, None, f"run_finished says {key} {said}, " + ", ".join(found))


def _pack(line: int, attempts: int, flags: int) -> int:
    return line << _LINE_SHIFT | (attempts & _ATTEMPT_MASK) << _ATTEMPT_SHIFT | flags


def _attempts(state: int) -> int:
    return state >> _ATTEMPT_SHIFT & _ATTEMPT_MASK


def _line(state: int) -> int:
    return state >> _LINE_SHIFT


def verify_log(path: str | Path) -> Verdict:
    """Check one log in one pass; raise `LogFormatError` if it cannot be read."""
    reader = LogReader(path, allow_empty=True)
    verifier = LogVerifier(reader.path)
    for line, event in reader.iter_events():
        verifier.check(line, event)
    return verifier.verdict(reader)


def verdict_lines(verdict: Verdict) -> list[str]:
    """The verdict as the lines `dtq verify` prints: violations first, then the outcome."""
    path = verdict.path
    out = [violation.render(path) for violation in verdict.violations]
    hidden = verdict.violation_count - len(verdict.violations)
    if hidden:
        out.append(f"... and {hidden} more")
    counts = (
        f"{verdict.events:,} events, {verdict.tasks:,} tasks: "
        f"{verdict.ended.get('succeeded', 0):,} succeeded, "
        f"{verdict.ended.get('dead_lettered', 0):,} dead-lettered, {verdict.pending:,} pending"
    )
    if verdict.duplicates:
        counts += f"; {verdict.duplicates:,} duplicate runs after lost leases (allowed with Redis)"
    if verdict.violation_count:
        first = min(violation.line for violation in verdict.violations)
        out.append(
            f"invalid: {path}: {verdict.violation_count} violation"
            f"{'s' if verdict.violation_count != 1 else ''} (first on line {first}); {counts}"
        )
    if not verdict.is_finished:
        notes = ["no run_finished: the run was killed, its disk filled, or it is still running"]
        if not verdict.violation_count:
            notes.append("every event before is consistent (not corrupt)")
        if verdict.truncated:
            notes.append(f"line {verdict.lines} was cut short and is ignored")
        out.append(f"unfinished: {path}: {'; '.join(notes)}; {counts}")
    elif verdict.is_valid:
        out.append(f"ok  {path}: status {verdict.status}; {counts}")
    return out
