"""The metrics of one run, from its folded state: one dict, shown as text, JSON or markdown.

`build_report` is the only place that picks the numbers; the text and markdown renderers
only lay out that dict, so the three formats cannot disagree. The JSON shape is stable
and documented key by key in docs/report-json.md.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dtq.durations import display_duration
from dtq.fold import metrics
from dtq.fold.overload import DependencyStats
from dtq.fold.state import Counts, RunState, WaitStats, nearest_rank
from dtq.render.dashboard import format_rate
from dtq.render.tables import TitledTable, markdown_lines

REPORT_SCHEMA = 1
GOODPUT_STRETCHES = 20
"""Equal stretches of the run in the report's goodput over time (whole buckets, at most)."""
UNFINISHED = "unfinished"
"""The status of a log without run_finished: killed (or still being written), not running."""
REAL_CLOCK_NOTE = "real clock with time-window faults: the DLQ may differ between runs"

Report = dict[str, Any]

# (column title, key in a group row) for the per-priority and per-type tables.
COUNT_COLUMNS = (
    ("submitted", "submitted"),
    ("succeeded", "succeeded"),
    ("DLQ", "dead_lettered"),
    ("pending", "pending"),
    ("retries", "retried"),
    ("failures", "failed"),
)
WAIT_COLUMNS = (("p50", "p50_s"), ("p95", "p95_s"), ("p99", "p99_s"), ("max", "max_s"))


# -- the numbers -------------------------------------------------------------------------


def build_report(state: RunState, *, warnings: Sequence[str] = ()) -> Report:
    """The report of a folded run as a JSON-ready dict (shape in docs/report-json.md)."""
    elapsed_s = state.elapsed_s
    return {
        "report_schema": REPORT_SCHEMA,
        "run": _run_section(state),
        "totals": state.totals(),
        "duplicate_runs": state.duplicates,
        "throughput_per_s": _round(metrics.throughput_per_s(state)),
        "by_priority": [
            {
                "priority": p,
                **_group(state.by_priority.get(p), state.wait_stats(p)),
                "end_to_end": _wait(state.end_to_end_stats(p)),
            }
            for p in state.priorities()
        ],
        "by_type": [
            {
                "type": name,
                "priority": _type_priority(state, name),
                **_group(counts, state.wait_stats(name)),
            }
            for name, counts in sorted(state.by_type.items())
        ],
        "workers": [_worker(state, name, elapsed_s) for name in sorted(state.workers)],
        "failures_by_error": _ranked(state.failures_by_error),
        "attempts_to_succeed": {
            str(n): tasks for n, tasks in sorted(state.attempts_to_succeed.items())
        },
        "dlq": _dlq_section(state),
        "overload": _overload_section(state),
        "dependencies": [_dependency(stats) for stats in state.dependencies.by_name.values()],
        "notes": [*_notes(state), *warnings],
    }


def _overload_section(state: RunState) -> dict[str, Any]:
    recovery = metrics.recovery_s(state)
    return {
        "attempts_per_task": _round(metrics.amplification(state)),
        "peak_attempts_per_task": _round(metrics.peak_amplification(state)),
        "last_fault_end_t": state.last_fault_end_t,
        # null: nothing to recover from; "never": goodput never came back.
        "recovery_s": "never" if recovery == math.inf else recovery,
        "goodput": _goodput(metrics.goodput(state)),
        "goodput_over_time": [
            _goodput(stretch)
            for stretch in metrics.goodput_over_time(state, points=GOODPUT_STRETCHES)
        ],
    }


def _goodput(stretch: metrics.Goodput) -> dict[str, float]:
    return {
        "start_t": _round(stretch.start_t),
        "end_t": _round(stretch.end_t),
        "first_time_per_s": _round(stretch.first_time_per_s),
        "eventual_per_s": _round(stretch.eventual_per_s),
        "attempts_per_s": _round(stretch.attempts_per_s),
    }


def _dependency(stats: DependencyStats) -> dict[str, Any]:
    ordered = sorted(stats.waits)
    return {
        "name": stats.name,
        "calls": stats.started,
        "peak_in_flight": stats.peak_in_flight,
        "peak_line": stats.peak_line,
        "wait_p95_s": nearest_rank(ordered, 95) if ordered else None,
        "wait_max_s": ordered[-1] if ordered else None,
        "outcomes": _ranked(stats.outcomes),
        "rejected": _ranked(stats.rejected),
    }


def _round(value: float) -> float:
    return round(value, 6)


_RUN_KEYS = (
    "scenario_path",
    "scenario_sha256",
    "seed",
    "clock",
    "time_scale",
    "workers",
    "backend",
    "policy",
    "max_attempts",
    "expected_tasks",
    "started_at",
    "dtq",
)
"""What the run section copies from run_started as it is (its `scenario` is scenario_name)."""


def _run_section(state: RunState) -> dict[str, Any]:
    meta = state.meta
    finished = state.finished or {}
    return {
        "scenario": meta.scenario_name if meta else None,
        **{key: getattr(meta, key) if meta else None for key in _RUN_KEYS},
        "status": state.status if state.finished is not None else UNFINISHED,
        "finished": state.finished is not None,
        "elapsed_s": _round(state.elapsed_s),
        "error": finished.get("error"),
    }


def _wait(stats: WaitStats) -> dict[str, Any]:
    empty = stats.count == 0
    return {
        "count": stats.count,
        "mean_s": None if empty else _round(stats.mean),
        "p50_s": None if empty else stats.p50,
        "p95_s": None if empty else stats.p95,
        "p99_s": None if empty else stats.p99,
        "max_s": None if empty else stats.max,
    }


def _group(counts: Counts | None, stats: WaitStats) -> dict[str, Any]:
    counts = counts or Counts()
    return {
        "submitted": counts.submitted,
        "succeeded": counts.succeeded,
        "dead_lettered": counts.dead_lettered,
        "pending": metrics.pending(counts),
        "started": counts.started,
        "failed": counts.failed,
        "retried": counts.retried,
        "redelivered": counts.redelivered,
        "wait": _wait(stats),
    }


def _type_priority(state: RunState, name: str) -> int | None:
    spec = state.meta.scenario.get("task_types", {}).get(name) if state.meta else None
    priority = spec.get("priority") if isinstance(spec, dict) else None
    return priority if isinstance(priority, int) else None


def _worker(state: RunState, name: str, elapsed_s: float) -> dict[str, Any]:
    row = state.workers[name]
    return {
        "worker": name,
        "tasks_done": row.done,
        "failures": row.failures,
        "crashes": row.crashes,
        "busy_s": _round(row.busy_s),
        "utilisation": _round(metrics.utilisation(row, elapsed_s)),
    }


def _ranked(counts: dict[str, int] | Counter[str]) -> dict[str, int]:
    """Counts by name, most frequent first, ties by name (stable output)."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _dlq_section(state: RunState) -> dict[str, Any]:
    entries = state.dlq.values()
    return {
        "count": len(state.dlq),
        "by_reason": _ranked(Counter(e.reason for e in entries)),
        "by_last_error": _ranked(Counter(e.last_error for e in entries)),
        "by_priority": {str(p): n for p, n in sorted(Counter(e.priority for e in entries).items())},
        "by_type": _ranked(Counter(e.type for e in entries)),
    }


def _notes(state: RunState) -> list[str]:
    notes = []
    if state.meta is not None and state.meta.clock == "real" and _has_outage(state):
        notes.append(REAL_CLOCK_NOTE)
    if state.finished is None:
        notes.append(
            f"the log has no run_finished: the run did not end cleanly; numbers stop at "
            f"t={state.t:.3f}s"
        )
    elif state.status != "completed":
        pending = state.totals()["pending"]
        error = state.finished.get("error")
        detail = f": {error}" if error else ""
        notes.append(f"run {state.status}{detail}; {pending} tasks still pending")
    missing = missing_events(state)
    if missing is not None:
        notes.append(missing)
    if state.duplicates:
        notes.append(
            f"{state.duplicates} duplicate runs after lost leases (at-least-once delivery)"
        )
    return notes


def missing_events(state: RunState) -> str | None:
    """What is wrong when more tasks ended than were submitted (pending below 0), or None."""
    negative = [
        f"P{p}"
        for p, counts in sorted(state.by_priority.items())
        if counts.submitted < counts.succeeded + counts.dead_lettered
    ]
    if not negative:
        return None
    return (
        f"the log is missing events: more tasks ended than were submitted at "
        f"{', '.join(negative)} (pending below 0), so these numbers are off; "
        "`dtq verify LOG` names the first line that breaks the lifecycle"
    )


def _has_outage(state: RunState) -> bool:
    faults = state.meta.scenario.get("faults") if state.meta else None
    declared = any(isinstance(f, dict) and f.get("kind") == "outage" for f in faults or [])
    return declared or any(f.kind == "outage" for f in state.faults_seen)


# -- text (rich) -------------------------------------------------------------------------


def _title(report: Report) -> str:
    run = report["run"]
    name = run["scenario"] or "(no run_started)"
    return f"dtq report: {name}, {run['status']} after {display_duration(run['elapsed_s'])}"


def _subtitle(report: Report) -> str:
    run = report["run"]
    if run["scenario"] is None:
        return "the log has no run_started: seed, clock and settings are unknown"
    return (
        f"seed {run['seed']} · {run['clock']} clock · {run['policy']} policy · "
        f"{run['workers']} workers"
    )


def _wait_cells(wait: dict[str, Any]) -> list[str]:
    values = (wait["mean_s"], *(wait[key] for _, key in WAIT_COLUMNS))
    return [str(wait["count"]), *("-" if v is None else display_duration(v) for v in values)]


def _label(group: dict[str, Any]) -> str:
    return f"P{group['priority']}" if "type" not in group else str(group["type"])


def _wait_rows(groups: Iterable[dict[str, Any]]) -> list[list[str]]:
    return [[_label(g), *_wait_cells(g["wait"])] for g in groups]


def _count_rows(groups: Iterable[dict[str, Any]]) -> list[list[str]]:
    return [[_label(g), *(str(g[key]) for _, key in COUNT_COLUMNS)] for g in groups]


def _wait_headers(first: str) -> list[str]:
    return [first, "attempts", "mean", *(title for title, _ in WAIT_COLUMNS)]


def _count_headers(first: str) -> list[str]:
    return [first, *(title for title, _ in COUNT_COLUMNS)]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _tables(report: Report) -> list[TitledTable]:
    """Every table of the report, most important first."""
    by_priority, by_type = report["by_priority"], report["by_type"]
    errors = report["failures_by_error"]
    return [
        TitledTable(
            "Queue wait per priority (compare fifo and priority runs here)",
            _wait_headers("priority"),
            _wait_rows(by_priority),
        ),
        TitledTable("Tasks per priority", _count_headers("priority"), _count_rows(by_priority)),
        TitledTable("Queue wait per task type", _wait_headers("type"), _wait_rows(by_type)),
        TitledTable("Tasks per task type", _count_headers("type"), _count_rows(by_type)),
        TitledTable("Totals", ("total", "count"), _totals_rows(report)),
        TitledTable("Workers", WORKER_HEADERS, _worker_rows(report)),
        TitledTable(
            "End to end per priority: submission to final success",
            ["priority", "tasks", "mean", *(title for title, _ in WAIT_COLUMNS)],
            [[f"P{g['priority']}", *_wait_cells(g["end_to_end"])] for g in by_priority],
        ),
        TitledTable(
            "Attempts needed by the tasks that succeeded",
            ("attempts", "tasks", "share"),
            _attempt_rows(report),
        ),
        TitledTable(
            "Failed attempts by error",
            ("error", "attempts"),
            [[k, str(n)] for k, n in errors.items()],
        ),
        TitledTable(
            f"Dead-letter queue: {_plural(report['dlq']['count'], 'task')}",
            ("by", "value", "tasks"),
            _dlq_rows(report),
        ),
        *_goodput_tables(report),
        *_overload_tables(report),
    ]


GOODPUT_HEADERS = ("from", "to", "first time", "eventual", "attempts")


def _goodput_tables(report: Report) -> list[TitledTable]:
    """Goodput against attempts over time, when some attempt failed (else goodput is the
    throughput, all of it first time)."""
    overload = report["overload"]
    if not report["totals"]["failed"]:
        return []
    rows = [_goodput_row(stretch) for stretch in overload["goodput_over_time"]]
    rows.append(["whole run", "", *_goodput_row(overload["goodput"])[2:]])
    title = "Goodput against attempts: tasks succeeded first time, after retries; attempts"
    return [TitledTable(title, GOODPUT_HEADERS, rows)]


def _goodput_row(stretch: dict[str, float]) -> list[str]:
    return [
        display_duration(stretch["start_t"]),
        display_duration(stretch["end_t"]),
        format_rate(stretch["first_time_per_s"]),
        format_rate(stretch["eventual_per_s"]),
        format_rate(stretch["attempts_per_s"]),
    ]


DEPENDENCY_HEADERS = ("dependency", "calls", "peak in flight", "peak line", "wait p95", "outcomes")


def _overload_tables(report: Report) -> list[TitledTable]:
    """The dependencies and the overload numbers, when the run had dependencies."""
    if not report["dependencies"]:
        return []
    overload = report["overload"]
    recovery = overload["recovery_s"]
    recovered = (
        "no fault"
        if recovery is None
        else "never"
        if recovery == "never"
        else display_duration(recovery)
    )
    rows = [
        ["attempts per task", f"{overload['attempts_per_task']:.2f}"],
        ["at the peak", f"{overload['peak_attempts_per_task']:.2f}"],
        ["recovered after the last fault", recovered],
    ]
    deps = [_dependency_row(dep) for dep in report["dependencies"]]
    return [
        TitledTable("Dependencies", DEPENDENCY_HEADERS, deps),
        TitledTable("Overload", ("", "value"), rows),
    ]


def _dependency_row(dep: dict[str, Any]) -> list[str]:
    outcomes = {**dep["outcomes"], **dep["rejected"]}
    wait = dep["wait_p95_s"]
    return [
        dep["name"],
        str(dep["calls"]),
        str(dep["peak_in_flight"]),
        str(dep["peak_line"]),
        display_duration(wait) if wait is not None else "-",
        ", ".join(f"{name} {n}" for name, n in outcomes.items()),
    ]


def _attempt_rows(report: Report) -> list[list[str]]:
    counts = report["attempts_to_succeed"]
    total = sum(counts.values())
    return [[n, str(tasks), f"{100 * tasks / total:.1f}%"] for n, tasks in counts.items()]


def _rich_table(titled: TitledTable) -> Table:
    # As wide as its title at least: a narrow table would fold its title over lines.
    table = Table(
        title=titled.title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        title_style="bold",
        min_width=len(titled.title) + 2,
    )
    for index, header in enumerate(titled.headers):
        table.add_column(header, justify="left" if index == 0 else "right")
    for row in titled.rows:
        table.add_row(*row)
    return table


def _worker_rows(report: Report) -> list[list[str]]:
    return [
        [
            w["worker"],
            str(w["tasks_done"]),
            str(w["failures"]),
            str(w["crashes"]),
            display_duration(w["busy_s"]),
            f"{w['utilisation'] * 100:.1f}%",
        ]
        for w in report["workers"]
    ]


WORKER_HEADERS = ("worker", "done", "failures", "crashes", "busy", "utilisation")


def _totals_rows(report: Report) -> list[list[str]]:
    rows = [[key.replace("_", "-"), str(value)] for key, value in report["totals"].items()]
    rows.append(["duplicate runs", str(report["duplicate_runs"])])
    rows.append(["throughput", format_rate(report["throughput_per_s"])])
    return rows


def _dlq_rows(report: Report) -> list[list[str]]:
    dlq = report["dlq"]
    rows = [["reason", name, str(n)] for name, n in dlq["by_reason"].items()]
    rows += [["last error", name, str(n)] for name, n in dlq["by_last_error"].items()]
    return rows


def render_text(report: Report) -> RenderableType:
    """The report as rich tables; the per-priority wait table comes first."""
    parts: list[RenderableType] = [Text(_title(report), style="bold"), Text(_subtitle(report))]
    parts.extend(_rich_table(table) for table in _tables(report))
    parts.extend(Text(f"note: {note}", style="yellow") for note in report["notes"])
    return Group(*parts)


# -- markdown ----------------------------------------------------------------------------


def render_markdown(report: Report) -> str:
    """The report as GitHub-flavoured markdown tables."""
    lines = [f"## {_title(report)}", "", _subtitle(report), ""]
    for table in _tables(report):
        lines += markdown_lines(table)
    lines += [f"> note: {note}" for note in report["notes"]]
    return "\n".join(lines).rstrip() + "\n"
