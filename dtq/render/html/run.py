"""The HTML report of one run: what happened, in charts over time, then the tables.

Every number comes from the reducer: the series sampled while folding (`SeriesState`)
and the report dict (`build_report`), the same one the text, JSON and markdown reports
show. This module lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic
import yaml

from dtq.durations import display_duration, format_duration
from dtq.fold import metrics
from dtq.fold.expect import Check, evaluate
from dtq.render.html import charts as ch
from dtq.render.html import timeline as tl
from dtq.render.html.charts import Chart
from dtq.render.html.page import chart_grid, esc, page
from dtq.render.html.series import SeriesState, backlog_key
from dtq.render.html.tables import cards, checks_list, table
from dtq.render.html.timeline import Shown
from dtq.render.report import Report, build_report
from dtq.scenario.durations import SECONDS_CONTEXT
from dtq.scenario.models import Expect


def render_run_html(state: SeriesState, *, warnings: Sequence[str] = ()) -> str:
    """The self-contained HTML report of a folded, finished `SeriesState`."""
    report = build_report(state, warnings=warnings)
    charts = run_charts(state, report)
    run = report["run"]
    title = f"dtq report: {run['scenario'] or 'run'}"
    body = "".join(
        [
            _header(report),
            f"<p class=story>{esc(story(state, report))}</p>",
            cards(_key_numbers(state, report)),
            _expectations(state),
            "<h2>Over time</h2>",
            chart_grid(charts),
            _tables(report),
            _scenario(state),
            "<footer>Made by dtq report --format html from the run's event log. Drag on a "
            "chart to zoom, double-click to reset; click a legend entry to hide it.</footer>",
        ]
    )
    return page(title=title, body=body, charts=charts)


def run_charts(state: SeriesState, report: Report) -> list[Chart]:
    """Every chart of a run that has something to show, in reading order."""
    runs = [Shown(state)]
    found = [
        tl.backlog_chart(runs),
        tl.work_chart(runs),
        tl.wait_chart(runs),
        tl.dead_letter_chart(runs),
        tl.workers_chart(runs),
        utilisation_chart(report),
        *tl.dependency_charts(runs),
    ]
    return [chart for chart in found if chart is not None]


def utilisation_chart(report: Report) -> Chart | None:
    """Each worker's share of the run spent running attempts."""
    workers = report["workers"]
    if not workers:
        return None
    names = [row["worker"] for row in workers]
    shares = [row["utilisation"] * 100 for row in workers]
    return Chart(
        key="utilisation",
        title="Utilisation per worker",
        hint="Share of the run each worker spent running attempts. Even bars are a fair "
        "spread; low bars everywhere mean more workers than the load needs.",
        traces=[ch.bars(names, shares, name="busy", colour=ch.series_colour(0), unit="%")],
        layout=ch.layout(
            x_title="worker",
            y_title="busy (% of the run)",
            x_type="category",
            extra={
                "hovermode": "closest",
                "showlegend": False,
                "yaxis": {"title": {"text": "busy (% of the run)"}, "range": [0, 100]},
            },
        ),
    )


# -- text around the charts ----------------------------------------------------------------


def _header(report: Report) -> str:
    run = report["run"]
    return (
        f"<h1>{esc(run['scenario'] or 'run')}: {esc(run['status'])} after "
        f"{esc(display_duration(run['elapsed_s']))}</h1><p class=sub>seed {esc(run['seed'])} · "
        f"{esc(run['clock'])} clock · {esc(run['policy'])} policy · {esc(run['workers'])} "
        f"workers · {esc(run['backend'])} backend · dtq {esc(run['dtq'])}</p>"
    )


def story(state: SeriesState, report: Report) -> str:
    """One paragraph a reviewer reads first: outcome, faults, the worst backlog."""
    totals = report["totals"]
    submitted = totals["submitted"]
    parts = [
        f"{submitted:,} tasks were submitted; {totals['succeeded']:,} succeeded "
        f"({_completed(state)}) and {totals['dead_lettered']:,} were "
        f"dead-lettered{_reasons(report)}, after {totals['retried']:,} retries."
    ]
    if state.windows:
        faults = "; ".join(
            f"{w.label} from {format_duration(w.start_s)} to {format_duration(w.end_s)}"
            for w in state.windows
        )
        parts.append(f"Faults: {faults}.")
    peak = _peak_backlog(state)
    if peak is not None:
        priority, count, at_s = peak
        parts.append(f"The backlog peaked at {count:,.0f} tasks (P{priority}) at {at_s:.3g}s.")
    return " ".join(parts)


def _completed(state: SeriesState) -> str:
    return f"{metrics.completed_ratio(state):.1%}" if state.submitted else "-"


def _reasons(report: Report) -> str:
    reasons = report["dlq"]["by_reason"]
    if not reasons:
        return ""
    return " (" + ", ".join(f"{count:,} {reason}" for reason, count in reasons.items()) + ")"


def _peak_backlog(state: SeriesState) -> tuple[int, float, float] | None:
    best: tuple[int, float, float] | None = None
    for priority in state.priorities():
        column = state.samples.get(backlog_key(priority), [])
        for at_s, count in zip(state.sample_t, column, strict=False):
            if count > 0 and (best is None or count > best[1]):
                best = (priority, count, at_s)
    return best


def _key_numbers(state: SeriesState, report: Report) -> list[tuple[str, str]]:
    totals = report["totals"]
    return [
        ("submitted", f"{totals['submitted']:,}"),
        ("succeeded", _completed(state)),
        ("dead-lettered", f"{totals['dead_lettered']:,}"),
        ("retries", f"{totals['retried']:,}"),
        ("pending", f"{totals['pending']:,}"),
        ("goodput", f"{report['throughput_per_s']:,.1f}/s"),
        ("run time", display_duration(report["run"]["elapsed_s"])),
    ]


def expectations(state: SeriesState) -> list[Check] | None:
    """The scenario's `expect:` thresholds judged on this run; None when it sets none."""
    raw = state.meta.scenario.get("expect") if state.meta else None
    if not isinstance(raw, dict):
        return None
    try:  # the log holds durations as seconds
        expect = Expect.model_validate(raw, context=SECONDS_CONTEXT)
    except pydantic.ValidationError:
        return None
    checks = evaluate(expect, state)
    return checks or None


def _expectations(state: SeriesState) -> str:
    checks = expectations(state)
    if checks is None:
        return "<p class=sub>This scenario sets no <code>expect:</code> thresholds.</p>"
    return checks_list(checks)


def _tables(report: Report) -> str:
    wait_heads = ["p50", "p95", "p99", "max"]
    heads = ["submitted", "succeeded", "DLQ", "retries", "failures", *wait_heads]

    def cells(row: dict[str, Any]) -> list[str]:
        wait = row["wait"]
        waits = [
            "-" if wait[f"{k}_s"] is None else display_duration(wait[f"{k}_s"]) for k in wait_heads
        ]
        counts = (
            row["submitted"],
            row["succeeded"],
            row["dead_lettered"],
            row["retried"],
            row["failed"],
        )
        return [f"{n:,}" for n in counts] + waits

    by_priority = [
        ([f"P{row['priority']}"], cells(row), ch.priority_colour(row["priority"]))
        for row in report["by_priority"]
    ]
    by_type = [([row["type"]], cells(row), None) for row in report["by_type"]]
    return "".join(
        [
            "<h2>Numbers</h2><div class=tables>",
            table(
                "By priority (waits: time from ready to start)", ["priority", *heads], by_priority
            ),
            table("By task type", ["type", *heads], by_type),
            _dlq_tables(report),
            "</div>",
            _notes(report),
        ]
    )


def _dlq_tables(report: Report) -> str:
    dlq = report["dlq"]
    if not dlq["count"]:
        return "<p>No task was dead-lettered.</p>"
    reasons = [([reason], [f"{n:,}"], None) for reason, n in dlq["by_reason"].items()]
    errors = [([error], [f"{n:,}"], None) for error, n in dlq["by_last_error"].items()]
    return table("Dead letters by reason", ["reason", "tasks"], reasons) + table(
        "Dead letters by last error", ["error", "tasks"], errors
    )


def _notes(report: Report) -> str:
    if not report["notes"]:
        return ""
    items = "".join(f"<li>{esc(note)}</li>" for note in report["notes"])
    return f"<h2>Notes</h2><ul class=notes>{items}</ul>"


def _scenario(state: SeriesState) -> str:
    if state.meta is None or not state.meta.scenario:
        return ""
    text = yaml.safe_dump(state.meta.scenario, sort_keys=False, allow_unicode=True)
    where = state.meta.scenario_path or "the log"
    return (
        f"<h2>Scenario</h2><p class=sub>As resolved in the log (from {esc(where)}, sha256 "
        f"{esc(state.meta.scenario_sha256[:12])}); durations in seconds.</p>"
        f"<pre>{esc(text)}</pre>"
    )
