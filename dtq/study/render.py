"""A sweep's result as text (a rich table), markdown, JSON (docs/sweep.md) or CSV.

Every number is computed in `dtq.study.result`; this module only formats.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from rich import box
from rich.table import Table
from rich.text import Text

from dtq.durations import display_duration
from dtq.render.markdown import markdown_table
from dtq.study.result import (
    CONFIDENCE,
    INTERVAL_METHOD,
    SCHEMA,
    MetricSummary,
    PointSummary,
    SweepResult,
)

_SECONDS = ("wait_p95.", "e2e_p95_s", "recover_s")
_HEADINGS = {
    "completed_pct": "completed",
    "dlq": "DLQ",
    "e2e_p95_s": "e2e p95",
    "attempts_per_task": "attempts",
    "peak_backlog": "backlog",
    "recover_s": "recover",
}
CSV_COLUMNS = ("metric", "mean", "low", "high", "n", "never", "seeds", "seeds_passed")


def heading(name: str) -> str:
    """A metric's column heading: `wait p95 P1`, `DLQ exhausted`."""
    if name.startswith("wait_p95.P"):
        return f"{name.removeprefix('wait_p95.')} wait p95"
    if name.startswith("dlq."):
        return f"DLQ {name.removeprefix('dlq.')}"
    return _HEADINGS.get(name, name)


def _number(name: str, value: float) -> str:
    if name.startswith(_SECONDS):
        return display_duration(value)
    if name == "completed_pct":
        return f"{value:.1f}%"
    if name == "attempts_per_task":
        return f"{value:.3g}"
    return f"{value:.1f}" if abs(value) < 100 else f"{value:,.0f}"


def cell(name: str, summary: MetricSummary | None, *, separator: str = " ") -> str:
    """`92.8% ±0.4%`: the mean and the interval's half-width (or `never`, `-`)."""
    if summary is None:
        return "0" if name.startswith("dlq.") else "-"
    if summary.mean is None:
        return "never" if summary.never else "-"
    text = _number(name, summary.mean)
    if summary.high is not None:
        text += f"{separator}±{_number(name, summary.high - summary.mean)}"
    if summary.never:
        text += f"{separator}({summary.never} never)"
    return text


def caption(result: SweepResult) -> str:
    """What the numbers are: means and Student-t 95% intervals over the seeds."""
    seeds = len(result.seeds)
    return (
        f"mean ± half-width of the {CONFIDENCE:.0%} confidence interval over {seeds} seeds "
        f"(Student t, {seeds - 1} degrees of freedom). P1 wait p95: queue wait of priority 1; "
        "e2e p95: submission to success; attempts: per task; backlog: peak of tasks waiting; "
        "recover: from the end of the last fault until goodput is back to the offered load "
        "for good; expect: seeds that passed expect: (docs/sweep.md)"
    )


def table_rows(
    result: SweepResult, *, separator: str = " ", reasons: bool = True
) -> tuple[list[str], list[list[str]]]:
    """The headers and cells of the table; `reasons`: a column per DLQ reason."""
    names = [n for n in result.metric_names() if reasons or not n.startswith("dlq.")]
    failures = any(point.failures for point in result.points)
    headers = [axis.path for axis in result.axes] or ["point"]
    headers += [heading(name) for name in names] + ["expect"] + (["failed"] if failures else [])
    rows = []
    for point in result.points:
        cells = [text for _, text in point.coords] or [point.label()]
        cells += [cell(name, point.metrics.get(name), separator=separator) for name in names]
        cells.append(f"{point.seeds_passed}/{point.seeds_run}")
        if failures:
            cells.append(str(len(point.failures)) if point.failures else "")
        rows.append(cells)
    return headers, rows


def text_table(result: SweepResult) -> Table:
    """The result as a rich table, intervals under the means; failing points in red.

    DLQ by reason is left to the wide formats (markdown, json, csv, html).
    """
    headers, rows = table_rows(result, separator="\n", reasons=False)
    points, seeds = len(result.points), len(result.seeds)
    table = Table(
        title=f"sweep of {result.scenario_name}: {points} points x {seeds} seeds",
        caption=caption(result),
        box=box.SIMPLE_HEAVY,
        caption_justify="left",
    )
    for index, name in enumerate(headers):
        is_axis = index < max(1, len(result.axes))
        table.add_column(name, justify="left" if is_axis else "right", no_wrap=True)
    for point, cells in zip(result.points, rows, strict=True):
        style = "" if point.passed else "red"
        table.add_row(*(Text(value, style=style) for value in cells))
    return table


def footer(result: SweepResult) -> list[str]:
    """Lines under the table: which points passed everywhere, failures, what did not run."""
    passed = [point.label() for point in result.points if point.passed]
    lines = [f"passed expect: on every seed: {len(passed)} of {len(result.points)} points"]
    lines += [f"  ✓ {label}" for label in passed[:10]]
    if len(passed) > 10:
        lines.append(f"  ... and {len(passed) - 10} more")
    for point in result.points:
        for failure in point.failures:
            lines.append(f"✗ {point.label()} seed {failure.seed}: {failure.error}")
    if result.interrupted or result.unfinished:
        lines.append(
            f"interrupted: {result.unfinished} of {result.total_points} points did not finish"
        )
    return lines


def markdown(result: SweepResult) -> str:
    """The result as a GitHub markdown table with its caption and footer."""
    headers, rows = table_rows(result)
    lines = [f"### Sweep of {result.scenario_name}", "", f"_{caption(result)}_", ""]
    lines += markdown_table(headers, rows)
    return "\n".join([*lines, "", *footer(result)]) + "\n"


def as_json(result: SweepResult) -> dict[str, Any]:
    """The documented JSON shape (docs/sweep.md, schema 1)."""
    return {
        "schema": SCHEMA,
        "scenario": {"name": result.scenario_name, "path": result.scenario_path},
        "axes": [{"path": axis.path, "values": list(axis.values)} for axis in result.axes],
        "seeds": list(result.seeds),
        "confidence": CONFIDENCE,
        "interval": INTERVAL_METHOD,
        "metrics": result.metric_names(),
        "points": [_point_json(point) for point in result.points],
        "total_points": result.total_points,
        "unfinished_points": result.unfinished,
        "interrupted": result.interrupted,
        "passed": result.passed,
    }


def _point_json(point: PointSummary) -> dict[str, Any]:
    return {
        "index": point.index,
        "coords": dict(point.coords),
        "seeds_run": point.seeds_run,
        "seeds_passed": point.seeds_passed,
        "passed": point.passed,
        "metrics": {name: point.metrics[name].as_dict() for name in sorted(point.metrics)},
        "failures": [{"seed": f.seed, "error": f.error} for f in point.failures],
    }


def json_text(result: SweepResult) -> str:
    """The JSON document, indented, with a final newline."""
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS  # `{1: 10ms}` as a swept value
    return orjson.dumps(as_json(result), option=options).decode() + "\n"


def csv_text(result: SweepResult) -> str:
    """One line per point and metric: the axes' values, then the metric's numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    axes = [axis.path for axis in result.axes]
    writer.writerow(["point", *axes, *CSV_COLUMNS])
    for point in result.points:
        coords = [text for _, text in point.coords]
        for name in result.metric_names():
            summary = point.metrics.get(name)
            if summary is None:
                continue
            numbers = [summary.mean, summary.low, summary.high, summary.n, summary.never]
            shown = ["" if value is None else repr(value) for value in numbers]
            row = [point.index, *coords, name, *shown, point.seeds_run, point.seeds_passed]
            writer.writerow(row)
    return out.getvalue()
