"""Time series of one run for the pictures, sampled from the reducer while it folds.

`SeriesState` is a `RunState` that, as the log is folded (one pass), reads the reducer's
own counters at every bucket edge of event time: tasks waiting per priority, attempts
started, tasks succeeded and dead-lettered, workers busy and up, dependency gauges. The
numbers are the reducer's; this module only records them over time. Buckets start at
1 ms and double whenever there would be more than `max_points` of them, so memory and
chart size stay bounded for any run length (and any `t`, even a damaged one).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dtq import events as ev
from dtq.fold.state import BUSY, IDLE, FaultInfo, RunState
from dtq.log.reader import LogReader, fold

Event = dict[str, Any]

MAX_POINTS = 1000
"""Buckets kept per series; a chart of two series then holds about 2,000 points."""
FIRST_WIDTH_S = 0.001
CDF_POINTS = 200

# Sampled columns (cumulative counters unless said otherwise).
STARTED = "started"
SUCCEEDED = "succeeded"
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
    """A `RunState` that also samples its counters at every bucket edge of event time."""

    max_points: int = MAX_POINTS
    width_s: float = FIRST_WIDTH_S
    sample_t: list[float] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)
    windows: list[FaultWindow] = field(default_factory=list)
    dependency_names: list[str] = field(default_factory=list)
    _next_edge_s: float = FIRST_WIDTH_S
    _finished: bool = False

    def __post_init__(self) -> None:
        RunState.__post_init__(self)
        # A fault's window closes when the reducer lets go of it: exact, and free for the
        # events (most of them) that cannot end a fault.
        for name in (ev.FAULT_ENDED, ev.WORKER_RESTARTED, ev.RUN_FINISHED):
            self._handlers[name] = self._closing_windows(self._handlers[name])

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

    def apply(self, event: Event) -> RunState:
        """Sample the edges this event passes, then fold it."""
        if event["t"] >= self._next_edge_s:
            self._sample_until(event["t"])
        return RunState.apply(self, event)

    def apply_all(self, events: Iterable[Event]) -> RunState:
        """Fold every event, sampling each bucket edge before the first event past it."""
        return RunState.apply_all(self, self._sampled(events))

    def _sampled(self, events: Iterable[Event]) -> Iterator[Event]:
        # The reducer folds each event before asking for the next, so the state seen here
        # is the state just before `event`: exactly the state at the edge it passes.
        for event in events:
            if event["t"] >= self._next_edge_s:
                self._sample_until(event["t"])
            yield event

    def _sample_until(self, t_s: float) -> None:
        """Record every edge up to `t_s`, coarsening first so no more than max_points stay."""
        while math.floor(t_s / self.width_s) > self.max_points:
            self._coarsen()
        row = self._row()
        edges = math.floor(t_s / self.width_s) - len(self.sample_t)
        for _ in range(edges):
            self._append(len(self.sample_t) * self.width_s + self.width_s, row)
        self._next_edge_s = (len(self.sample_t) + 1) * self.width_s

    def _coarsen(self) -> None:
        """Keep every second edge (those at multiples of twice the width) and double it."""
        self.sample_t = self.sample_t[1::2]
        for key, values in self.samples.items():
            self.samples[key] = values[1::2]
        self.width_s *= 2

    def _row(self) -> dict[str, float]:
        """The reducer's numbers now, one per column."""
        row: dict[str, float] = {STARTED: 0, SUCCEEDED: 0, DEAD: 0}
        for priority, counts in self.by_priority.items():
            row[STARTED] += counts.started
            row[SUCCEEDED] += counts.succeeded
            row[DEAD] += counts.dead_lettered
            row[backlog_key(priority)] = counts.queued + counts.retrying
        states = [worker.state for worker in self.workers.values()]
        row[BUSY_WORKERS] = states.count(BUSY)
        row[UP_WORKERS] = row[BUSY_WORKERS] + states.count(IDLE)
        for name, gauge in _dependencies(self).items():
            in_flight, line = dependency_keys(name)
            row[in_flight] = gauge.in_flight
            row[line] = gauge.line
            if name not in self.dependency_names:
                self.dependency_names.append(name)
        return row

    def _append(self, edge_s: float, row: dict[str, float]) -> None:
        done = len(self.sample_t)
        self.sample_t.append(edge_s)
        for key, value in row.items():
            column = self.samples.get(key)
            if column is None:  # first seen now (a new priority): nothing of it before
                column = self.samples[key] = [0.0] * done
            column.append(value)

    def finish(self) -> None:
        """Sample the last (partial) bucket and close the fault windows still open (once)."""
        if self._finished:
            return
        self._finished = True
        end_s = max(self.elapsed_s, self.t)
        if not self.sample_t or end_s > self.sample_t[-1]:
            self._append(end_s, self._row())
        self._close_windows(end_s)  # a log cut short: its faults were in force to its end
        self.windows.sort(key=lambda window: window.start_s)


def _dependencies(state: RunState) -> Mapping[str, DependencyGauge]:
    """The reducer's dependency gauges, once it has them (`RunState.dependencies`)."""
    found = getattr(state, "dependencies", None)
    return found if isinstance(found, Mapping) else {}


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


def fold_series(path: str | Path, *, max_points: int = MAX_POINTS) -> tuple[SeriesState, LogReader]:
    """Fold a whole log once into a `SeriesState` (finished) and return it with its reader."""
    state = SeriesState(max_points=max_points)
    _, reader = fold(path, state=state)
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
    return math.fsum(values) / len(values)


def per_second(times: list[float], counter: list[float]) -> list[float]:
    """A cumulative counter as a rate: its growth over each bucket divided by its width."""
    rates = []
    before_t, before = 0.0, 0.0
    for at_s, value in zip(times, counter, strict=True):
        width = at_s - before_t
        rates.append((value - before) / width if width > 0 else 0.0)
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
    values = state.waits_by_priority.get(priority)
    if not values:
        return []
    ordered = sorted(values)
    count = len(ordered)
    ranks = sorted({max(1, math.ceil(count * k / points)) for k in range(1, points + 1)})
    return [(ordered[rank - 1], rank / count) for rank in ranks]
