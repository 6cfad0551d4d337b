"""Every number derived from a folded run, defined once; renderers only format them.

The reducer (`dtq.fold.state`) counts; this module divides. The dashboard, the run
summary, the report (text, JSON, markdown) and baselines all call these functions, so
one run shows one throughput, one failure share, one utilisation everywhere.
"""

from __future__ import annotations

import math

from dtq.fold.state import THROUGHPUT_WINDOW_S, Counts, RunState, WorkerRow


def pending(counts: Counts) -> int:
    """Tasks of a group submitted and not yet ended (succeeded or dead-lettered)."""
    return counts.submitted - counts.succeeded - counts.dead_lettered


def throughput_per_s(state: RunState) -> float:
    """The run's throughput: tasks succeeded per second of run time (0 before any time)."""
    return rate_per_s(state.succeeded, state.elapsed_s)


def rate_per_s(count: int, elapsed_s: float) -> float:
    """`count` per second over `elapsed_s` seconds; 0 when no time has passed."""
    return count / elapsed_s if elapsed_s > 0 else 0.0


def recent_throughput_per_s(state: RunState, window_s: float = THROUGHPUT_WINDOW_S) -> float:
    """Successes per second over the last `window_s` seconds of event time (a live rate)."""
    if state.t <= 0:
        return 0.0
    end = int(state.t)
    start = max(0, end - max(1, int(window_s)) + 1)
    done, start_t = state.over_time.sum_since("succeeded", start)
    return done / max(state.t - start_t, 1e-9)


def shown_throughput_per_s(state: RunState) -> float:
    """The rate a live view shows: the recent rate while running, the run's once finished
    (so the final frame agrees with the summary and the report)."""
    if state.finished is not None:
        return throughput_per_s(state)
    return recent_throughput_per_s(state)


def failure_percent(state: RunState) -> float:
    """Failed attempts as a percentage of attempts that ended (failed or succeeded)."""
    totals = state.totals()
    ended = totals["failed"] + totals["succeeded"]
    return 100.0 * totals["failed"] / ended if ended else 0.0


def dead_percent(state: RunState) -> float:
    """Dead-lettered tasks as a share of tasks that reached an end (not of attempts)."""
    finished = state.finished_tasks
    return 100.0 * state.dead_lettered / finished if finished else 0.0


def utilisation(row: WorkerRow, elapsed_s: float) -> float:
    """The share of the run's time a worker spent running attempts (0 to 1)."""
    return row.busy_s / elapsed_s if elapsed_s > 0 else 0.0


def success_rate(counts: Counts | None) -> float | None:
    """Tasks succeeded per task submitted in a group; None when none was submitted."""
    if counts is None or not counts.submitted:
        return None
    return counts.succeeded / counts.submitted


def completed_ratio(state: RunState) -> float:
    """Tasks succeeded per task submitted over the run (0 when none was submitted)."""
    submitted = state.submitted
    return state.succeeded / submitted if submitted else 0.0


# -- overload ---------------------------------------------------------------------------

# Back to the offered load: successes at least this share of submissions over the rest
# of the arrivals, and no bucket below half of its submissions.
RECOVERED_SHARE = 0.9
# Buckets of `over_time` in the sliding window of the peak amplification.
AMPLIFICATION_WINDOW = 5


def amplification(state: RunState) -> float:
    """Attempts per task over the run (1.0 when nothing failed)."""
    totals = state.totals()
    return totals["started"] / totals["submitted"] if totals["submitted"] else 0.0


def peak_amplification(state: RunState) -> float:
    """The most attempts per submitted task over any few buckets of the run."""
    started = state.over_time.values("started")
    submitted = state.over_time.values("submitted")
    peak = 0.0
    for end in range(1, len(started) + 1):
        begin = max(0, end - AMPLIFICATION_WINDOW)
        tasks = sum(submitted[begin:end])
        if tasks:
            peak = max(peak, sum(started[begin:end]) / tasks)
    return peak


def recovery_s(state: RunState) -> float | None:
    """Seconds from the end of the last fault until goodput is back to the offered load
    and stays there while tasks arrive; `math.inf` when it never is; None when there was
    no fault, or arrivals stopped before the last fault ended (nothing to recover to)."""
    end_t = state.last_fault_end_t
    if end_t is None:
        return None
    submitted = state.over_time.values("submitted")
    succeeded = state.over_time.values("succeeded")
    width = state.over_time.width_s
    last = max((i for i, n in enumerate(submitted) if n), default=-1)
    first = math.ceil(end_t / width)
    if first > last:
        return None
    for begin in range(first, last + 1):
        offered = submitted[begin : last + 1]
        done = succeeded[begin : last + 1]
        steady = all(d >= s / 2 for d, s in zip(done, offered, strict=True))
        if steady and sum(done) >= RECOVERED_SHARE * sum(offered):
            return max(0.0, begin * width - end_t)
    return math.inf


def goodput_per_s(state: RunState) -> list[tuple[float, int, int]]:
    """`(bucket start t, successes, attempts)` over time: goodput against work done."""
    width = state.over_time.width_s
    succeeded = state.over_time.values("succeeded")
    started = state.over_time.values("started")
    return [(i * width, s, a) for i, (s, a) in enumerate(zip(succeeded, started, strict=True))]


def dependency_slots(state: RunState, name: str) -> int | None:
    """How many calls dependency `name` may serve at once now (None: no limit), as the
    scenario sets it and a slowdown in force scales it (at least one slot)."""
    scenario = state.meta.scenario if state.meta is not None else {}
    declared = (scenario.get("dependencies") or {}).get(name)
    limit = declared.get("concurrency") if isinstance(declared, dict) else None
    if not isinstance(limit, int):
        return None
    for fault in state.active_faults.values():
        if fault.kind == "slowdown" and fault.dependency == name and fault.capacity is not None:
            return max(1, math.floor(limit * fault.capacity))
    return limit
