"""Every number derived from a folded run, defined once; renderers only format them.

The reducer (`dtq.fold.state`) counts; this module divides. The dashboard, the run
summary, the report (text, JSON, markdown) and baselines all call these functions, so
one run shows one throughput, one failure share, one utilisation everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def shown_first_time_share(state: RunState) -> float | None:
    """The share of successes that came on the task's first attempt, over the window of
    the live rate while running, over the run once finished; None without a success."""
    if state.finished is not None or state.t <= 0:
        done, first = state.succeeded, state.attempts_to_succeed.get(1, 0)
    else:
        start = max(0, int(state.t) - max(1, int(THROUGHPUT_WINDOW_S)) + 1)
        done, _ = state.over_time.sum_since("succeeded", start)
        first, _ = state.over_time.sum_since("first_time", start)
    return first / done if done else None


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


@dataclass(frozen=True, slots=True)
class Goodput:
    """Goodput against work over a stretch of run time, per second: tasks that succeeded
    on their first attempt (first time), after at least one retry (eventual), and attempts
    started."""

    start_t: float
    end_t: float
    first_time_per_s: float
    eventual_per_s: float
    attempts_per_s: float

    @classmethod
    def over(cls, start_t: float, end_t: float, first: int, done: int, attempts: int) -> Goodput:
        """The rates of `first` first-time successes of `done`, and `attempts`, in a stretch."""
        width_s = end_t - start_t
        return cls(
            start_t=start_t,
            end_t=end_t,
            first_time_per_s=rate_per_s(first, width_s),
            eventual_per_s=rate_per_s(done - first, width_s),
            attempts_per_s=rate_per_s(attempts, width_s),
        )


def goodput(state: RunState) -> Goodput:
    """Goodput over the whole run: first-time and eventual successes, attempts, per second."""
    totals = state.totals()
    first = state.attempts_to_succeed.get(1, 0)
    return Goodput.over(0.0, state.elapsed_s, first, totals["succeeded"], totals["started"])


def goodput_over_time(state: RunState, *, points: int) -> list[Goodput]:
    """Goodput in at most `points` equal stretches of the run (whole buckets of
    `over_time`), from t = 0 to the run's end; the last stretch ends with the run."""
    series = state.over_time
    columns = [series.values(name) for name in ("first_time", "succeeded", "started")]
    end_s = max(state.elapsed_s, state.t)
    if len(columns[0]) > 1 and (len(columns[0]) - 1) * series.width_s >= end_s:
        # The run ended on a bucket's edge: what happened at that instant joins the
        # bucket before, rather than a stretch of no time.
        for values in columns:
            last = values.pop()
            values[-1] += last
    first, done, started = columns
    step = max(1, math.ceil(len(done) / max(points, 1)))
    width_s = series.width_s * step
    out = []
    for begin in range(0, len(done), step):
        start_t = begin * series.width_s
        stretch = slice(begin, begin + step)
        out.append(
            Goodput.over(
                start_t,
                max(min(start_t + width_s, end_s), start_t),
                sum(first[stretch]),
                sum(done[stretch]),
                sum(started[stretch]),
            )
        )
    return out


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
