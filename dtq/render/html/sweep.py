"""The HTML page of `dtq sweep`: each metric against each swept value, with its 95% band.

With one swept value, a chart per metric shows its mean across seeds as a line and the
confidence interval as a band around it. With two or more, each chart has one line per
combination of the other values, and with exactly two a grid map (heat map) per metric
shows the whole grid at once. The numbers are the sweep result's; nothing is computed
here beyond picking them out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from dtq.render.html import charts as ch
from dtq.render.html.charts import Chart
from dtq.render.html.page import chart_grid, esc, page
from dtq.render.html.tables import Row, cards, table


class AxisLike(Protocol):
    """One swept path: its values, each with the text it was written as."""

    @property
    def path(self) -> str: ...

    @property
    def texts(self) -> tuple[str, ...]: ...

    @property
    def values(self) -> tuple[Any, ...]: ...


class SummaryLike(Protocol):
    """A metric across a point's seeds: mean and 95% interval (None where unknown)."""

    @property
    def mean(self) -> float | None: ...

    @property
    def low(self) -> float | None: ...

    @property
    def high(self) -> float | None: ...

    @property
    def n(self) -> int: ...


class PointLike(Protocol):
    """One point of the grid: its coordinates, seeds and metric summaries."""

    @property
    def coords(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def seeds_run(self) -> int: ...

    @property
    def seeds_passed(self) -> int: ...

    @property
    def metrics(self) -> Mapping[str, SummaryLike]: ...

    def label(self) -> str:
        """`workers=8 retry.max_attempts=4`."""
        ...


class SweepLike(Protocol):
    """What the page reads of a sweep's result (`dtq.study.result.SweepResult`)."""

    @property
    def scenario_name(self) -> str: ...

    @property
    def axes(self) -> Sequence[AxisLike]: ...

    @property
    def seeds(self) -> Sequence[int]: ...

    @property
    def points(self) -> Sequence[PointLike]: ...

    def metric_names(self) -> list[str]:
        """Every metric any point has, in the table's order."""
        ...


# What each metric is: (title, unit on the axis, what to look for).
_METRICS: dict[str, tuple[str, str, str]] = {
    "completed_pct": ("Tasks completed", "completed (%)", "Higher is better."),
    "dlq": ("Dead letters", "tasks dead-lettered", "Lower is better."),
    "e2e_p95_s": ("End to end p95", "submission to success (s)", "Lower is better."),
    "attempts_per_task": ("Attempts per task", "attempts per task", "1 means no retries."),
    "peak_backlog": ("Peak backlog", "tasks waiting at the peak", "Lower is better."),
    "recover_s": ("Time to recover", "after the last fault (s)", "Gaps: never recovered."),
}


def describe(name: str) -> tuple[str, str, str]:
    """A metric's title, axis unit and hint."""
    if name.startswith("wait_p95.P"):
        priority = name.removeprefix("wait_p95.")
        return f"{priority} queue wait p95", "wait (s)", "Lower is better."
    if name.startswith("dlq."):
        reason = name.removeprefix("dlq.")
        return f"Dead letters: {reason}", "tasks dead-lettered", "Lower is better."
    return _METRICS.get(name, (name, name, ""))


def render_sweep_html(result: SweepLike) -> str:
    """The self-contained HTML page of a sweep result."""
    charts = sweep_charts(result)
    seeds = len(result.seeds)
    passed = sum(1 for p in result.points if p.seeds_passed == p.seeds_run)
    body = "".join(
        [
            f"<h1>Sweep of {esc(result.scenario_name)}</h1><p class=sub>"
            f"{esc(' × '.join(_axis_label(a) for a in result.axes) or 'no swept value')} · "
            f"{seeds} seeds per point · lines: mean over the seeds; bands: 95% confidence "
            "interval (Student t)</p>",
            cards(
                [
                    ("points", f"{len(result.points):,}"),
                    ("seeds each", str(seeds)),
                    ("passed expect: on every seed", f"{passed} of {len(result.points)}"),
                ]
            ),
            chart_grid(charts),
            _table(result),
            "<footer>Made by dtq sweep --format html. Drag on a chart to zoom, double-click "
            "to reset; click a legend entry to hide that line.</footer>",
        ]
    )
    return page(title=f"dtq sweep: {result.scenario_name}", body=body, charts=charts)


def _axis_label(axis: AxisLike) -> str:
    return f"{axis.path} = {', '.join(axis.texts)}"


def sweep_charts(result: SweepLike) -> list[Chart]:
    """A line chart per metric and swept value; a heat map per metric when two are swept."""
    found: list[Chart] = []
    for name in result.metric_names():
        for index in range(len(result.axes)):
            chart = line_chart(result, name, index)
            if chart is not None:
                found.append(chart)
        if len(result.axes) == 2:
            chart = heat_chart(result, name)
            if chart is not None:
                found.append(chart)
    return found


def _numeric(axis: AxisLike) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in axis.values)


def _x(axis: AxisLike, text: str) -> Any:
    """Where a point sits on this axis: its value when every value is a number, else text."""
    return axis.values[axis.texts.index(text)] if _numeric(axis) else text


def line_chart(result: SweepLike, name: str, axis_index: int) -> Chart | None:
    """`name` against the axis-th swept value; a line per combination of the others."""
    axis = result.axes[axis_index]
    groups: dict[str, list[tuple[Any, SummaryLike]]] = {}
    for point in result.points:
        summary = point.metrics.get(name)
        if summary is None:
            continue
        others = " ".join(f"{p}={t}" for i, (p, t) in enumerate(point.coords) if i != axis_index)
        groups.setdefault(others, []).append((_x(axis, point.coords[axis_index][1]), summary))
    if not any(s.mean is not None for rows in groups.values() for _, s in rows):
        return None
    traces = []
    for index, (others, rows) in enumerate(groups.items()):
        traces += _line_with_band(
            rows, name=others or describe(name)[0], colour=_colour(name, index, len(groups))
        )
    title, unit, hint = describe(name)
    return Chart(
        key=f"sweep_{_key(name)}_{axis_index}",
        title=f"{title} by {axis.path}",
        hint=f"{hint} Line: mean over the seeds; band: its 95% confidence interval.",
        traces=traces,
        layout=ch.layout(
            x_title=axis.path,
            y_title=unit,
            x_type="linear" if _numeric(axis) else "category",
            extra={
                "hovermode": "closest",
                "yaxis": {"title": {"text": unit}},
                "xaxis": _x_axis(axis),
            },
        ),
    )


def _x_axis(axis: AxisLike) -> dict[str, Any]:
    """The swept values as the axis's ticks: each point sits on a labelled tick."""
    found: dict[str, Any] = {"title": {"text": axis.path}, "zeroline": False}
    if _numeric(axis):
        found |= {"type": "linear", "tickvals": list(axis.values), "ticktext": list(axis.texts)}
    else:
        found |= {"type": "category"}
    return found


def _line_with_band(rows: list[tuple[Any, SummaryLike]], *, name: str, colour: str) -> list[Any]:
    xs = [x for x, _ in rows]
    trace = ch.line(xs, [s.mean for _, s in rows], name=name, colour=colour)
    trace["mode"] = "lines+markers"
    trace["legendgroup"] = name
    if all(s.low is None for _, s in rows):
        return [trace]
    low = [s.low for _, s in rows]
    high = [s.high for _, s in rows]
    return [*ch.band(xs, low, high, name=name, colour=colour), trace]


def _colour(name: str, index: int, groups: int) -> str:
    if name.startswith("wait_p95.P") and groups == 1:
        return ch.priority_colour(int(name.removeprefix("wait_p95.P")))
    return ch.series_colour(index)


def _key(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def heat_chart(result: SweepLike, name: str) -> Chart | None:
    """The mean of `name` over the grid of the two swept values."""
    x_axis, y_axis = result.axes
    grid: list[list[float | None]] = [[None] * len(x_axis.texts) for _ in y_axis.texts]
    for point in result.points:
        summary = point.metrics.get(name)
        if summary is not None and summary.mean is not None:
            (_, x_text), (_, y_text) = point.coords
            grid[y_axis.texts.index(y_text)][x_axis.texts.index(x_text)] = summary.mean
    if all(v is None for row in grid for v in row):
        return None
    title, unit, hint = describe(name)
    trace = ch.heatmap(
        x_axis.texts, y_axis.texts, grid, name=unit, x_title=x_axis.path, y_title=y_axis.path
    )
    return Chart(
        key=f"grid_{_key(name)}",
        title=f"{title} over {x_axis.path} × {y_axis.path}",
        hint=f"{hint} Each cell: the mean over the seeds; the colour scale is on the right.",
        traces=[trace],
        layout=ch.layout(
            x_title=x_axis.path,
            y_title=y_axis.path,
            x_type="category",
            extra={
                "yaxis": {"title": {"text": y_axis.path}, "type": "category"},
                "hovermode": "closest",
            },
        ),
    )


def _table(result: SweepLike) -> str:
    names = result.metric_names()
    heads = [*(a.path for a in result.axes), *(describe(n)[0] for n in names), "expect"]
    rows: list[Row] = [
        (
            [t for _, t in point.coords] or [point.label()],
            [
                *(_cell(point.metrics.get(n)) for n in names),
                f"{point.seeds_passed}/{point.seeds_run}",
            ],
            None,
        )
        for point in result.points
    ]
    return "<h2>Every point</h2>" + table("mean ± half the 95% interval", heads, rows)


def _cell(summary: SummaryLike | None) -> str:
    if summary is None or summary.mean is None:
        return "-"
    text = f"{summary.mean:.4g}"
    if summary.high is not None:
        text += f" ±{summary.high - summary.mean:.2g}"
    return text
