"""Time series of one run for the pictures, kept by the reducer while it folds.

`SeriesState` is a `RunState` whose bounded time series (`over_time`, a `TimeSeries`)
follows more than the reducer's totals: tasks waiting per priority, workers busy and up,
and each dependency's calls in flight and in line. The reducer reads these numbers at
every bucket edge of event time during its one pass over the log; this module only
chooses them. Buckets start at 1 ms and double whenever there would be more than
`max_buckets` of them, so memory and chart size stay bounded for any run length (and
any `t`, even a damaged one).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dtq import events as ev
from dtq.events import Event
from dtq.fold.metrics import rate_per_s
from dtq.fold.series import TimeSeries
from dtq.fold.state import BUSY, IDLE, SERIES_COLUMNS, Counts, FaultInfo, RunState
from dtq.fold.state import mean_of as mean_value
from dtq.log.reader import LogReader, fold_log

MAX_BUCKETS = 1000
"""Buckets kept per series; a chart of two series then holds about 2,000 points."""
FIRST_WIDTH_S = 0.001
PRIORITIES = range(1, 11)  # P1 (highest) to P10, as the scenario file has them
CDF_POINTS = 200

# Sampled columns (cumulative counters unless said otherwise).
STARTED = "started"
SUCCEEDED = "succeeded"
FIRST_TIME = "first_time"  # tasks of SUCCEEDED that succeeded on their first attempt
DEAD = "dead_lettered"
BUSY_WORKERS = "busy"  # a level: workers running an attempt at the edge
UP_WORKERS = "up"  # a level: workers not crashed or stopped at the edge


class DependencyGauge(Protocol):
    """What the sampler reads of one dependency: calls being served and calls in line."""

    @property
    def in_flight(self) -> int: ...

    @property
    def line(self) -> int: ...


def backlog_key(priority: int) -> str:
    """The column of tasks waiting (ready or in retry backoff) at one priority."""
    return f"backlog:P{priority}"


def dependency_keys(name: str) -> tuple[str, str]:
    """The in-flight and line columns of one dependency."""
    return f"in_flight:{name}", f"line:{name}"


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A fault and when it was in force, in seconds of event time."""

    kind: str
    start_s: float
    end_s: float
    label: str


@dataclass(slots=True)
class SeriesState(RunState):
    """A `RunState` whose `over_time` also follows what the pictures draw, from 1 ms buckets.

    After `finish()`, `sample_t` holds each bucket's end (the last one: the run's end) and
    `samples` each column's value there: running totals for the counters, the level for
    the backlogs, workers and dependency gauges.
    """

    max_buckets: int = MAX_BUCKETS
    sample_t: list[float] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)
    windows: list[FaultWindow] = field(default_factory=list)
    dependency_names: list[str] = field(default_factory=list)
    _finished: bool = False

    def __post_init__(self) -> None:
        RunState.__post_init__(self)
        # The reducer advances `over_time` at each bucket edge (one comparison per event):
        # widening what it follows costs nothing per event.
        self.over_time = self._series()
        self._handlers[ev.RUN_STARTED] = self._on_run_started_series
        # A fault's window closes when the reducer lets go of it: exact, and free for the
        # events (most of them) that cannot end a fault.
        for name in (ev.FAULT_ENDED, ev.WORKER_RESTARTED, ev.RUN_FINISHED):
            self._handlers[name] = self._closing_windows(self._handlers[name])

    def _series(self) -> TimeSeries:
        columns = [*SERIES_COLUMNS, *(backlog_key(p) for p in PRIORITIES)]
        columns += [BUSY_WORKERS, UP_WORKERS]
        columns += [key for name in self.dependency_names for key in dependency_keys(name)]
        return TimeSeries(
            columns, self._readings, max_buckets=self.max_buckets, width_s=FIRST_WIDTH_S
        )

    def _readings(self) -> list[int]:
        """The reducer's numbers now, one per column of `over_time`."""
        readings = self._running_totals()
        counts = self.by_priority
        readings += [_waiting(counts.get(p)) for p in PRIORITIES]
        states = [worker.state for worker in self.workers.values()]
        busy = states.count(BUSY)
        readings += [busy, busy + states.count(IDLE)]
        gauges = _dependencies(self)
        for name in self.dependency_names:
            gauge = gauges.get(name)
            readings += [gauge.in_flight, gauge.line] if gauge is not None else [0, 0]
        return readings

    def _on_run_started_series(self, event: Event) -> None:
        """Follow the scenario's dependencies too (run_started comes first, at t = 0)."""
        self._on_run_started(event)
        declared = self.meta.scenario.get("dependencies") if self.meta else None
        if isinstance(declared, dict) and declared and len(self.over_time) == 1:
            self.dependency_names = sorted(str(name) for name in declared)
            self.over_time = self._series()

    def _closing_windows(self, handler: Callable[[Event], None]) -> Callable[[Event], None]:
        def fold_and_close(event: Event) -> None:
            before = list(self.active_faults.items())
            handler(event)
            for index, fault in before:
                if index not in self.active_faults:
                    self.windows.append(_window(fault, event["t"]))

        return fold_and_close

    def _close_windows(self, end_s: float) -> None:
        for fault in self.active_faults.values():
            self.windows.append(_window(fault, end_s))
        self.active_faults.clear()

    def finish(self) -> None:
        """Read the buckets out as samples and close the fault windows still open (once)."""
        if self._finished:
            return
        self._finished = True
        series = self.over_time
        end_s = max(self.elapsed_s, self.t)
        count = len(series)
        width = series.width_s
        self.sample_t = [min((index + 1) * width, end_s) for index in range(count)]
        self.sample_t[-1] = end_s  # the open bucket holds everything up to the end
        self.samples = {
            column: [float(v) for v in series.cumulative(column)] for column in series.columns
        }
        self._close_windows(end_s)  # a log cut short: its faults were in force to its end
        self.windows.sort(key=lambda window: window.start_s)


def _waiting(counts: Counts | None) -> int:
    """Tasks of one priority waiting to start: ready, or backing off before a retry."""
    return 0 if counts is None else counts.queued + counts.retrying


def _dependencies(state: RunState) -> Mapping[str, DependencyGauge]:
    """The reducer's dependency gauges: in flight and line now, by dependency name."""
    return state.dependencies.by_name


def _window(fault: FaultInfo, end_s: float) -> FaultWindow:
    detail = f" {fault.error}" if fault.error else ""
    if fault.rate is not None:
        detail += f" {fault.rate:.0%}"
    if fault.workers is not None:
        detail += f" {fault.workers} workers"
    if fault.restart_after is not None:  # crashed workers stay down until they restart
        end_s = max(end_s, fault.started_t + fault.restart_after)
    return FaultWindow(fault.kind, fault.started_t, end_s, f"{fault.kind}{detail}")


# -- reading a log -----------------------------------------------------------------------


def fold_series(
    path: str | Path, *, max_buckets: int = MAX_BUCKETS
) -> tuple[SeriesState, LogReader]:
    """Fold a whole log once into a `SeriesState` (finished) and return it with its reader."""
    state = SeriesState(max_buckets=max_buckets)
    _, reader = fold_log(path, state=state)
    state.finish()
    return state, reader


# -- derived series ----------------------------------------------------------------------


def thinned(
    state: SeriesState, budget: int, *, mean_of: Collection[str] = ()
) -> tuple[list[float], dict[str, list[float]]]:
    """The samples with every k-th edge kept, so that at most `budget` points remain.

    Counters are read at the kept edges (exact); the levels named in `mean_of` are averaged
    over the edges each kept one stands for, so that a busy/idle flicker reads as a share.
    """
    count = len(state.sample_t)
    step = max(1, math.ceil(count / max(budget, 1)))
    if step == 1:
        return state.sample_t, state.samples
    # Keep the last sample (the run's end) and every step-th edge counted back from it.
    keep = list(range(count - 1, -1, -step))[::-1]
    columns = {}
    for key, values in state.samples.items():
        if key in mean_of:
            columns[key] = [_mean(values[max(0, i - step + 1) : i + 1]) for i in keep]
        else:
            columns[key] = [values[i] for i in keep]
    return [state.sample_t[i] for i in keep], columns


def _mean(values: list[float]) -> float:
    return mean_value(values)


def per_second(times: list[float], counter: list[float]) -> list[float]:
    """A cumulative counter as a rate: its growth over each bucket divided by its width."""
    rates = []
    before_t, before = 0.0, 0.0
    for at_s, value in zip(times, counter, strict=True):
        rates.append(rate_per_s(int(value - before), at_s - before_t))
        before_t, before = at_s, value
    return rates


def dead_letters_by_reason(state: RunState, times: list[float]) -> dict[str, list[int]]:
    """Dead letters of each reason within each bucket ending at `times` (the last one open)."""
    found: dict[str, list[int]] = {}
    for entry in state.dlq.values():
        counts = found.setdefault(entry.reason, [0] * len(times))
        bucket = min(bisect_left(times, entry.t), len(times) - 1)
        counts[bucket] += 1
    return dict(sorted(found.items(), key=lambda item: (-sum(item[1]), item[0])))


def wait_cdf(state: RunState, priority: int, points: int = CDF_POINTS) -> list[tuple[float, float]]:
    """(wait in seconds, share of attempts that waited at most that long) for one priority."""
    ordered = state.sorted_waits(priority)
    if not ordered:
        return []
    count = len(ordered)
    ranks = sorted({max(1, math.ceil(count * k / points)) for k in range(1, points + 1)})
    return [(ordered[rank - 1], rank / count) for rank in ranks]
