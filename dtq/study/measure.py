"""What one run of a sweep point measured: the numbers a study compares across seeds.

Counts, DLQ, waits and the time to recover come from the reducer (`RunState`) and the
metrics defined next to it (`dtq.fold.metrics.recovery_s`, the one definition that the
report and `expect: recover_within` use too). Two numbers need the order of events
that the reducer does not keep, so `Timeline` folds them from the same batches: each
task's time from submission to success (after the warm-up), and the peak backlog
(tasks waiting to run: ready, or in a retry's backoff).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dtq import events as ev
from dtq.fold.expect import evaluate
from dtq.fold.metrics import recovery_s
from dtq.fold.state import RunState, nearest_rank
from dtq.scenario.models import Expect

Event = dict[str, Any]

_STARTED, _SUBMITTED, _SUCCEEDED = ev.TASK_STARTED, ev.TASK_SUBMITTED, ev.TASK_SUCCEEDED
_FAILED, _REDELIVERED, _DEAD_LETTERED = ev.TASK_FAILED, ev.TASK_REDELIVERED, ev.TASK_DEAD_LETTERED
_EXPIRED = ev.REASON_EXPIRED


@dataclass(frozen=True, slots=True)
class RunMetrics:
    """One seed's numbers; None where the run had nothing to measure."""

    completed_pct: float
    dlq: int
    dlq_by_reason: dict[str, int]
    wait_p95_s: dict[int, float]
    e2e_p95_s: float | None
    attempts_per_task: float
    peak_backlog: int
    recover_s: float | None
    recovered: bool | None
    """None without a time to recover (no fault, or no arrivals after the last one);
    False when the run never recovered (`recover_s` is then None)."""
    passed: bool


@dataclass(slots=True)
class Timeline:
    """Folds the time-ordered numbers the reducer does not keep (see the module doc)."""

    warmup_s: float = 0.0
    backlog: int = 0
    peak_backlog: int = 0
    e2e_s: list[float] = field(default_factory=list)
    _submitted_t: dict[str, float] = field(default_factory=dict)

    def apply_all(self, events: Iterable[Event]) -> None:
        """Fold a batch of events, in order (locals: this runs once per event of a sweep)."""
        backlog, peak, warmup_s = self.backlog, self.peak_backlog, self.warmup_s
        submitted_t, e2e_s = self._submitted_t, self.e2e_s
        for event in events:
            name = event["event"]
            if name == _STARTED:
                backlog -= 1
            elif name == _SUBMITTED:
                backlog += 1
                if event["t"] >= warmup_s:
                    submitted_t[event["task_id"]] = event["t"]
            elif name == _SUCCEEDED:
                start_t = submitted_t.pop(event["task_id"], None)
                if start_t is not None:
                    e2e_s.append(event["t"] - start_t)
            elif name in (_FAILED, _REDELIVERED):
                backlog += name == _REDELIVERED or event["will_retry"]
            elif name == _DEAD_LETTERED:
                submitted_t.pop(event["task_id"], None)
                # An expired task leaves the queue without starting; every other dead
                # letter follows a failed attempt that did not put it back.
                backlog -= event["reason"] == _EXPIRED
            elif name == ev.RUN_STARTED:
                warmup_s = self.warmup_s = float(event.get("scenario", {}).get("warmup") or 0.0)
            if backlog > peak:
                peak = backlog
        self.backlog, self.peak_backlog = backlog, peak


def recovery(state: RunState) -> tuple[float | None, bool | None]:
    """Seconds from the last fault's end to recovery, and whether it recovered at all
    (`dtq.fold.metrics.recovery_s` in the two fields a summary across seeds needs)."""
    seconds = recovery_s(state)
    if seconds is None:
        return None, None
    if math.isinf(seconds):
        return None, False
    return seconds, True


def measure(state: RunState, timeline: Timeline, expect: Expect) -> RunMetrics:
    """The numbers of one finished run."""
    submitted = state.submitted
    reasons: dict[str, int] = {}
    for entry in state.dlq.values():
        reasons[entry.reason] = reasons.get(entry.reason, 0) + 1
    waits = {p: state.wait_stats(p) for p in state.priorities()}
    ordered = sorted(timeline.e2e_s)
    recover_s, recovered = recovery(state)
    return RunMetrics(
        completed_pct=100.0 * state.succeeded / submitted if submitted else 0.0,
        dlq=state.dead_lettered,
        dlq_by_reason=dict(sorted(reasons.items())),
        wait_p95_s={p: stats.p95 for p, stats in waits.items() if stats.count},
        e2e_p95_s=nearest_rank(ordered, 95) if ordered else None,
        attempts_per_task=sum(c.started for c in state.by_priority.values()) / submitted
        if submitted
        else 0.0,
        peak_backlog=timeline.peak_backlog,
        recover_s=recover_s,
        recovered=recovered,
        passed=all(check.passed for check in evaluate(expect, state)),
    )
