"""Charts of runs over time, shared by the run page (one run) and the diff page (A and B).

Each function takes the runs to show; in a diff, run B is drawn in the same colours as
A, dotted, on the same axes, so a difference is where the lines part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dtq.render.html import charts as ch
from dtq.render.html.charts import Chart, Trace
from dtq.render.html.series import (
    BUSY_WORKERS,
    DEAD,
    FIRST_TIME,
    STARTED,
    SUCCEEDED,
    UP_WORKERS,
    FaultWindow,
    SeriesState,
    backlog_key,
    dead_letters_by_reason,
    dependency_keys,
    per_second,
    thinned,
    wait_cdf,
)

POINTS_PER_CHART = 2000
RATE_POINTS = 200
"""Buckets of a per-second chart: finer ones show Poisson noise, not the run."""
TIME_AXIS = "time since start (s)"


@dataclass(frozen=True, slots=True)
class Shown:
    """One run on a chart: its series, its label in a diff ("A", "B"), its line style."""

    state: SeriesState
    label: str = ""
    dash: str = "solid"

    def name(self, what: str) -> str:
        """A legend entry: `what`, prefixed by the run's label in a diff."""
        return f"{self.label}: {what}" if self.label else what

    def line(
        self,
        x: Sequence[float],
        y: Sequence[float | None],
        what: str,
        colour: str,
        *,
        step: bool = False,
        unit: str = "",
    ) -> Trace:
        """A line of this run: named `what` in the legend, drawn in the run's style."""
        return ch.line(
            x, y, name=self.name(what), dash=self.dash, colour=colour, step=step, unit=unit
        )


def windows(runs: Sequence[Shown]) -> list[FaultWindow]:
    """The fault windows of every run shown, each distinct window once."""
    found: list[FaultWindow] = []
    for run in runs:
        for window in run.state.windows:
            if window not in found:
                found.append(window)
    return found


def _over_time(
    runs: Sequence[Shown], traces: list[Trace], *, key: str, title: str, y_title: str, hint: str
) -> Chart:
    """A chart against the time since the start, the runs' fault windows shaded."""
    layout = ch.layout(x_title=TIME_AXIS, y_title=y_title, windows=windows(runs))
    return Chart(key=key, title=title, hint=hint, traces=traces, layout=layout)


def _priorities(runs: Sequence[Shown]) -> list[int]:
    return sorted({p for run in runs for p in run.state.priorities()})


def _budget(runs: Sequence[Shown], lines_per_run: int) -> int:
    return max(POINTS_PER_CHART // max(len(runs) * lines_per_run, 1), 2)


def backlog_chart(runs: Sequence[Shown]) -> Chart | None:
    """Tasks waiting per priority over time."""
    priorities = _priorities(runs)
    runs = [run for run in runs if run.state.sample_t]
    if not runs or not priorities:
        return None
    traces = []
    for run in runs:
        times, columns = thinned(run.state, _budget(runs, len(priorities)))
        for p in priorities:
            values = columns.get(backlog_key(p), [0.0] * len(times))
            traces.append(run.line(times, values, f"P{p}", ch.priority_colour(p), unit=" tasks"))
    return _over_time(
        runs,
        traces,
        key="backlog",
        title="Backlog per priority",
        y_title="tasks waiting",
        hint="Tasks waiting to start (ready or backing off before a retry). A line that "
        "keeps rising is a priority the workers cannot keep up with; shaded: fault windows.",
    )


def work_chart(runs: Sequence[Shown], *, throughput: bool = True) -> Chart | None:
    """Attempts started, tasks ended and tasks succeeded per second."""
    runs = [run for run in runs if len(run.state.sample_t) >= 2]
    if not runs:
        return None
    traces = []
    for run in runs:
        traces += _work_traces(run, throughput=throughput)
    return _over_time(
        runs,
        traces,
        key="work",
        title="Throughput, goodput and attempts",
        y_title="per second",
        hint="Per second. Attempts above goodput are retries spent on failing work; "
        "goodput is split into tasks that succeeded first time and those that needed "
        "retries; goodput dropping inside a shaded fault window is the fault's cost.",
    )


def _work_traces(run: Shown, *, throughput: bool) -> list[Trace]:
    times, columns = thinned(run.state, RATE_POINTS)
    ended = [a + b for a, b in zip(columns[SUCCEEDED], columns[DEAD], strict=True)]
    eventual = [a - b for a, b in zip(columns[SUCCEEDED], columns[FIRST_TIME], strict=True)]
    lines = [
        ("attempts", columns[STARTED], 0),
        ("goodput (tasks succeeded)", columns[SUCCEEDED], 4),
        ("goodput, first time (on attempt 1)", columns[FIRST_TIME], 2),
        ("goodput, eventual (after retries)", eventual, 3),
    ]
    if throughput:
        lines.insert(1, ("throughput (tasks ended)", ended, 1))
    return [
        run.line(
            times, per_second(times, values), name, ch.series_colour(colour), step=True, unit="/s"
        )
        for name, values, colour in lines
    ]


def wait_chart(runs: Sequence[Shown]) -> Chart | None:
    """The distribution of queue waits per priority, as cumulative shares."""
    traces = []
    for run in runs:
        for priority in run.state.priorities():
            points = wait_cdf(run.state, priority)
            if points:
                waits_ms = [wait * 1000 for wait, _ in points]
                shares = [share * 100 for _, share in points]
                colour = ch.priority_colour(priority)
                traces.append(run.line(waits_ms, shares, f"P{priority}", colour, unit="%"))
    if not traces:
        return None
    return Chart(
        key="waits",
        title="Queue wait per priority (cumulative)",
        hint="Share of attempts that waited at most x before starting. Further left is "
        "better; a curve that crawls to the right is a priority left waiting.",
        traces=traces,
        layout=ch.layout(
            x_title="wait before starting (ms)",
            y_title="attempts (%)",
            extra={"hovermode": "closest"},
        ),
    )


def dead_letter_chart(runs: Sequence[Shown], *, stacked: bool = True) -> Chart | None:
    """Dead letters so far by reason: stacked for one run, side by side lines for two."""
    runs = [run for run in runs if run.state.dlq and run.state.sample_t]
    if not runs:
        return None
    reasons = sorted({entry.reason for run in runs for entry in run.state.dlq.values()})
    traces = []
    for run in runs:
        times, _ = thinned(run.state, _budget(runs, len(reasons)))
        for reason, counts in dead_letters_by_reason(run.state, times).items():
            colour = ch.series_colour(reasons.index(reason) + 2)
            trace = run.line(times, _cumulative(counts), reason, colour, unit=" tasks")
            if stacked:
                trace["stackgroup"] = "dlq"
            traces.append(trace)
    return _over_time(
        runs,
        traces,
        key="dead_letters",
        title="Dead letters by reason",
        y_title="tasks dead-lettered",
        hint="Tasks given up on so far, by reason. A steep rise shows when tasks were "
        "lost; compare it with the shaded fault windows.",
    )


def workers_chart(runs: Sequence[Shown]) -> Chart | None:
    """Workers running an attempt and workers up, over time."""
    runs = [run for run in runs if run.state.workers and run.state.sample_t]
    if not runs:
        return None
    traces = []
    for run in runs:
        times, columns = thinned(run.state, RATE_POINTS, mean_of=(BUSY_WORKERS, UP_WORKERS))
        up = run.line(times, columns[UP_WORKERS], "workers up", ch.series_colour(9), step=True)
        busy = run.line(
            times, columns[BUSY_WORKERS], "workers busy", ch.series_colour(0), step=True
        )
        if len(runs) == 1:
            busy["fill"] = "tozeroy"
        traces += [up, busy]
    return _over_time(
        runs,
        traces,
        key="workers",
        title="Workers busy",
        y_title="workers",
        hint="Workers running an attempt (mean over each step) under the workers that are "
        "up. Busy at the ceiling means the workers are the bottleneck; a dip in 'up' is a crash.",
    )


def dependency_charts(runs: Sequence[Shown]) -> list[Chart]:
    """One chart per dependency: calls being served and calls in line, over time."""
    names = sorted({name for run in runs for name in run.state.dependency_names})
    found = []
    for index, name in enumerate(names):
        traces = []
        for run in runs:
            if name not in run.state.dependency_names:
                continue
            times, columns = thinned(run.state, RATE_POINTS * 2)
            in_flight, line = dependency_keys(name)
            traces += [
                run.line(times, columns[in_flight], "in flight", ch.series_colour(0), step=True),
                run.line(times, columns[line], "in line", ch.series_colour(1), step=True),
            ]
        found.append(
            _over_time(
                runs,
                traces,
                key=f"dependency_{index}",
                title=f"Dependency {name}: in flight and in line",
                y_title="calls",
                hint="Calls being served and calls waiting for a slot. A line that grows while "
                "in-flight sits at its limit is the dependency saturated.",
            )
        )
    return found


def _cumulative(counts: Sequence[int]) -> list[float]:
    total = 0
    out = []
    for count in counts:
        total += count
        out.append(float(total))
    return out
