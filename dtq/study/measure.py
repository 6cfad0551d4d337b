"""What one run of a sweep point measured: the numbers a study compares across seeds.

Every number comes from the reducer (`RunState`) and the metrics defined next to it:
counts, DLQ, waits, end-to-end times (after the warm-up), the peak backlog (tasks
waiting to run: ready, or in a retry's backoff), and the time to recover
(`dtq.fold.metrics.recovery_s`, the one definition that the report and `expect:
recover_within` use too). The report, replay and a sweep therefore agree by
construction, and a sweep point folds each event once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain

from dtq.fold.expect import evaluate
from dtq.fold.metrics import recovery_s
from dtq.fold.state import RunState, nearest_rank
from dtq.scenario.models import Expect


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


def recovery(state: RunState) -> tuple[float | None, bool | None]:
    """Seconds from the last fault's end to recovery, and whether it recovered at all
    (`dtq.fold.metrics.recovery_s` in the two fields a summary across seeds needs)."""
    seconds = recovery_s(state)
    if seconds is None:
        return None, None
    if math.isinf(seconds):
        return None, False
    return seconds, True


def measure(state: RunState, expect: Expect) -> RunMetrics:
    """The numbers of one finished run."""
    submitted = state.submitted
    reasons: dict[str, int] = {}
    for entry in state.dlq.values():
        reasons[entry.reason] = reasons.get(entry.reason, 0) + 1
    waits = {p: state.wait_stats(p) for p in state.priorities()}
    ordered = sorted(chain.from_iterable(state.end_to_end_by_priority.values()))
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
        peak_backlog=state.peak_backlog,
        recover_s=recover_s,
        recovered=recovered,
        passed=all(check.passed for check in evaluate(expect, state)),
    )
