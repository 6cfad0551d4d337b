"""The HTML page of `dtq diff A B`: both runs overlaid on the same axes, then the DLQ tables.

The numbers in the tables are the diff dict's (`build_diff`, the same one the text, JSON
and markdown formats show); the charts are the two runs' series, A solid and B dotted in
the same colours. A baseline has no series: its side is left out of the charts, said so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dtq.compare.diff import Diff
from dtq.durations import display_duration
from dtq.fold.state import RunState
from dtq.render.dlq_changes import ENTRY_HEADERS, entry_row
from dtq.render.html import timeline as tl
from dtq.render.html.charts import DASH_B, Chart
from dtq.render.html.page import chart_grid, esc, page
from dtq.render.html.series import SeriesState
from dtq.render.html.tables import Row, table
from dtq.render.html.timeline import Shown
from dtq.render.tables import MAX_LISTED


def render_diff_html(diff: Diff, a: RunState | None, b: RunState | None) -> str:
    """The self-contained HTML page of a diff; `a` and `b` are the sides' folded states."""
    runs = _shown(a, b)
    charts = diff_charts(runs)
    body = "".join(
        [
            _header(diff),
            _sides_note(diff, runs),
            f"<div class=tables>{_settings(diff)}{_totals(diff)}</div>",
            "<h2>Both runs over time (A solid, B dotted)</h2>" if charts else "",
            chart_grid(charts),
            _dlq(diff),
            _metrics(diff),
            "<footer>Made by dtq diff --format html. Drag on a chart to zoom, double-click "
            "to reset; click a legend entry to hide that line.</footer>",
        ]
    )
    title = f"dtq diff: {diff['a']['source']} vs {diff['b']['source']}"
    return page(title=title, body=body, charts=charts)


def _shown(a: RunState | None, b: RunState | None) -> list[Shown]:
    runs = []
    for state, label, dash in ((a, "A", "solid"), (b, "B", DASH_B)):
        if isinstance(state, SeriesState):
            state.finish()
            runs.append(Shown(state, label, dash))
    return runs


def diff_charts(runs: Sequence[Shown]) -> list[Chart]:
    """The run charts with both runs on the same axes."""
    found = [
        tl.backlog_chart(runs),
        tl.work_chart(runs, throughput=False),
        tl.wait_chart(runs),
        tl.dead_letter_chart(runs, stacked=False),
        tl.workers_chart(runs),
        *tl.dependency_charts(runs),
    ]
    return [chart for chart in found if chart is not None]


def _header(diff: Diff) -> str:
    a, b = diff["a"], diff["b"]
    same = "the same scenario" if diff["same_scenario"] else "different scenarios"
    verdict = "differ" if diff["differences"]["any"] else "show no difference"
    return (
        f"<h1>dtq diff: A and B {verdict}</h1><p class=sub>A: {esc(a['source'])} "
        f"({esc(a['kind'])}, seed {esc(a['seed'])}) · B: {esc(b['source'])} "
        f"({esc(b['kind'])}, seed {esc(b['seed'])}) · {same}</p>"
    )


def _sides_note(diff: Diff, runs: Sequence[Shown]) -> str:
    shown = {run.label for run in runs}
    notes = [
        f"{side.upper()} is a baseline, which holds no time series: the charts show "
        f"{'only ' + next(iter(shown)) if shown else 'nothing'}."
        for side in ("a", "b")
        if side.upper() not in shown
    ]
    notes += [f"{side.upper()}: {note}" for side in ("a", "b") for note in diff[side]["notes"]]
    if not notes:
        return ""
    return "<ul class=notes>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"


def _settings(diff: Diff) -> str:
    changes = diff["settings"]["changes"]
    if not diff["settings"]["available"]:
        return "<p class=sub>Settings: unknown for a baseline side.</p>"
    if not changes:
        return "<p class=sub>Settings: the same on both sides.</p>"
    rows: list[Row] = [([c["path"]], [_value(c["a"]), _value(c["b"])], None) for c in changes]
    return table("What changed from A to B", ["setting", "A", "B"], rows)


def _value(value: Any) -> str:
    return "-" if value is None else str(value)


def _totals(diff: Diff) -> str:
    rows: list[Row] = [
        ([row["name"]], [f"{row['a']:,}", f"{row['b']:,}", f"{row['delta']:+,}"], None)
        for row in diff["totals"]
    ]
    return table("Totals", ["", "A", "B", "B - A"], rows)


def _dlq(diff: Diff) -> str:
    dlq = diff["dlq"]
    grouped = [
        table(f"Dead letters by {key}", [key, "A", "B", "B - A"], _grouped(dlq[f"by_{key}"], key))
        for key in ("reason", "priority", "type")
        if dlq[f"by_{key}"]
    ]
    counts = (
        f"{len(dlq['only_in_a']):,} only in A · {len(dlq['only_in_b']):,} only in B · "
        f"{len(dlq['changed']):,} changed · {dlq['unchanged']:,} the same"
    )
    return "".join(
        [
            f"<h2>Dead-letter queue: {esc(counts)}</h2>",
            f"<div class=tables>{''.join(grouped)}</div>"
            if grouped
            else "<p>Neither run dead-lettered a task.</p>",
            _entries("Only in A", dlq["only_in_a"]),
            _entries("Only in B", dlq["only_in_b"]),
            _changed(dlq["changed"]),
        ]
    )


def _grouped(rows: Sequence[dict[str, Any]], key: str) -> list[Row]:
    return [
        ([str(row[key])], [f"{row['a']:,}", f"{row['b']:,}", f"{row['delta']:+,}"], None)
        for row in rows
    ]


def _entries(title: str, entries: Sequence[dict[str, Any]]) -> str:
    if not entries:
        return ""
    cells = [entry_row(entry) for entry in entries[:MAX_LISTED]]
    rows: list[Row] = [([task], rest, None) for task, *rest in cells]
    more = len(entries) - MAX_LISTED
    caption = f"{title}: {len(entries):,} tasks" + (f" (first {MAX_LISTED})" if more > 0 else "")
    return table(caption, ENTRY_HEADERS, rows)


def _changed(changes: Sequence[dict[str, Any]]) -> str:
    if not changes:
        return ""
    rows: list[Row] = [
        (
            [c["task_id"]],
            [", ".join(c["fields"]), *(_dlq_side(c[side]) for side in ("a", "b"))],
            None,
        )
        for c in changes[:MAX_LISTED]
    ]
    return table(f"Changed: {len(changes):,} tasks", ["task", "what changed", "A", "B"], rows)


def _dlq_side(entry: dict[str, Any]) -> str:
    return f"{entry['reason']} after {entry['attempts']} ({entry['last_error']})"


def _metrics(diff: Diff) -> str:
    metrics = diff["metrics"]
    if not metrics["available"]:
        return "<p class=sub>Per-priority metrics: a baseline holds no wait times.</p>"
    rows: list[Row] = [
        (
            [f"P{row['priority']}", row["metric"]],
            [_metric(row["metric"], row["a"]), _metric(row["metric"], row["b"]), _change(row)],
            None,
        )
        for row in metrics["by_priority"]
    ]
    caption = f"Per priority (beyond ±{metrics['tolerance_pct']:g}% marked ✗)"
    return "<h2>Metrics</h2>" + table(caption, ["priority", "metric", "A", "B", "change"], rows)


def _metric(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    if name.endswith("_s"):
        return display_duration(value)
    if name == "success_rate":
        return f"{value:.2%}"
    return f"{value:.4g}"


def _change(row: dict[str, Any]) -> str:
    mark = " ✗" if row["beyond_tolerance"] else ""
    if row["change_pct"] is None:
        return "-" + mark if row["a"] == row["b"] else "changed" + mark
    return f"{row['change_pct']:+.1f}%{mark}"
