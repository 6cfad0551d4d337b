"""What one run of a sweep point measured: the numbers a study compares across seeds.

Counts, DLQ and waits come from the reducer (`RunState`). Three numbers need the order
of events over time, which the reducer does not keep, so `Timeline` folds them from the
same batches: each task's time from submission to success, the backlog (tasks waiting
to run: ready or in a retry's backoff) sampled every `SAMPLE_S`, and the fault windows.

Time to recover: after the last fault ends, the first sample from which the backlog
is back at or under its level before the first fault (its highest sample then) and
stays there while load is still offered. A backlog that holds steady means the tasks
finish as fast as they arrive, so this is the moment throughput is back to the offered
load for good. If load is still offered after the last fault and the backlog never
settles before it stops, the run did not recover: "never". A run without faults has
no recovery time.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dtq import events as ev
from dtq.fold.expect import evaluate
from dtq.fold.state import RunState, nearest_rank
from dtq.scenario.models import Expect

Event = dict[str, Any]

SAMPLE_S = 0.1
"""How often the backlog is sampled for the recovery time, in scenario seconds."""

_FAULT_EDGES = frozenset({ev.FAULT_STARTED, ev.FAULT_ENDED, ev.WORKER_RESTARTED})
_STARTED, _SUBMITTED, _SUCCEEDED = ev.TASK_STARTED, ev.TASK_SUBMITTED, ev.TASK_SUCCEEDED
_FAILED, _REDELIVERED, _DEAD_LETTERED = ev.TASK_FAILED, ev.TASK_REDELIVERED, ev.TASK_DEAD_LETTERED


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
    """None without faults; False when the run never recovered (`recover_s` is then None)."""
    passed: bool


@dataclass(slots=True)
class Timeline:
    """Folds the time-ordered numbers the reducer does not keep (see the module doc)."""

    warmup_s: float = 0.0
    backlog: int = 0
    peak_backlog: int = 0
    samples: array[int] = field(default_factory=lambda: array("q"))
    e2e_s: list[float] = field(default_factory=list)
    first_fault_t: float | None = None
    last_fault_end_t: float | None = None
    last_arrival_t: float = 0.0
    _submitted_t: dict[str, float] = field(default_factory=dict)

    def apply_all(self, events: Iterable[Event]) -> None:
        """Fold a batch of events, in order (locals: this runs once per event of a sweep)."""
        backlog, peak, warmup_s = self.backlog, self.peak_backlog, self.warmup_s
        samples, submitted_t, e2e_s = self.samples, self._submitted_t, self.e2e_s
        for event in events:
            t = event["t"]
            slot = int(t / SAMPLE_S)
            while len(samples) < slot:  # the backlog at the end of each interval before t
                samples.append(backlog)
            name = event["event"]
            if name == _STARTED:
                backlog -= 1
            elif name == _SUBMITTED:
                backlog += 1
                self.last_arrival_t = t
                if t >= warmup_s:
                    submitted_t[event["task_id"]] = t
            elif name == _SUCCEEDED:
                start_t = submitted_t.pop(event["task_id"], None)
                if start_t is not None:
                    e2e_s.append(t - start_t)
            elif name in (_FAILED, _REDELIVERED):
                backlog += name == _REDELIVERED or event["will_retry"]
            elif name == _DEAD_LETTERED:
                submitted_t.pop(event["task_id"], None)
            elif name in _FAULT_EDGES:
                self._fault_edge(name, t)
            elif name == ev.RUN_STARTED:
                warmup_s = self.warmup_s = float(event.get("scenario", {}).get("warmup") or 0.0)
            if backlog > peak:
                peak = backlog
        self.backlog, self.peak_backlog = backlog, peak

    def _fault_edge(self, name: str, t: float) -> None:
        if name == ev.FAULT_STARTED and self.first_fault_t is None:
            self.first_fault_t = t
        # A crash without restart never ends: its start is the last change it makes.
        if self.last_fault_end_t is None or t > self.last_fault_end_t:
            self.last_fault_end_t = t

    def recovery(self) -> tuple[float | None, bool | None]:
        """Seconds from the last fault's end to recovery, and whether it recovered at all."""
        if self.first_fault_t is None or self.last_fault_end_t is None:
            return None, None
        before = self.samples[: int(self.first_fault_t / SAMPLE_S)]
        level = max(before, default=0)
        start = math.ceil(self.last_fault_end_t / SAMPLE_S)
        load_end = math.ceil(self.last_arrival_t / SAMPLE_S)
        samples = self.samples
        settled: int | None = None
        for slot in range(start, len(samples)):
            if samples[slot] > level:
                settled = None
            elif settled is None:
                settled = slot
            if settled is not None and slot >= load_end:
                break
        if settled is None:
            settled = len(samples)  # drained only when the run ended, after the last sample
        if start < load_end < settled:
            return None, False  # load went on after the faults and the backlog never settled
        # A sample holds the backlog at the end of its interval.
        return max(0.0, (settled + 1) * SAMPLE_S - self.last_fault_end_t), True


def measure(state: RunState, timeline: Timeline, expect: Expect) -> RunMetrics:
    """The numbers of one finished run."""
    submitted = state.submitted
    reasons: dict[str, int] = {}
    for entry in state.dlq.values():
        reasons[entry.reason] = reasons.get(entry.reason, 0) + 1
    waits = {p: state.wait_stats(p) for p in state.priorities()}
    ordered = sorted(timeline.e2e_s)
    recover_s, recovered = timeline.recovery()
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
