"""The text and markdown of `dtq diff`: the diff dict of `build_diff`, laid out.

Both formats show the same blocks (lines and titled tables) in the same order; the text
format draws the tables with rich, the markdown format as GitHub tables. Nothing here
compares: every number and verdict comes from the dict (dtq/compare/diff.py).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dtq.compare.diff import Diff, has_moved, is_better
from dtq.durations import display_duration
from dtq.render.dlq_changes import SideWords, dlq_tables
from dtq.render.tables import TitledTable, markdown_lines, more_line

# -- layout shared by text and markdown --------------------------------------------------


_Block = str | TitledTable
A_AND_B: Final = SideWords(
    only_in_a="Only in A (not dead-lettered in B)",
    only_in_b="Only in B (not dead-lettered in A)",
    changed="Dead-lettered on both sides, differently",
    change="A -> B",
)
"""How dtq diff names its sides in the DLQ tables."""


def headline(diff: Diff) -> str:
    """One line: `no difference`, or what differs (and, plainly, what does not)."""
    differences = diff["differences"]
    if not differences["any"]:
        compared = "settings, totals, DLQ and per-priority metrics"
        if not diff["metrics"]["available"]:
            compared = "settings, totals and DLQ"
        return f"no difference ({compared} compared; {diff['a']['dlq_count']} in each DLQ)"
    parts = []
    if differences["settings"]:
        changed = len(diff["settings"]["changes"])
        parts.append(f"settings ({changed})" if changed else "scenario file")
    if differences["totals"]:
        parts.append("totals")
    dlq = diff["dlq"]
    if differences["dlq"]:
        parts.append(
            f"DLQ ({len(dlq['only_in_a'])} only in A, {len(dlq['only_in_b'])} only in B, "
            f"{len(dlq['changed'])} changed)"
        )
    if differences["metrics"]:
        rows = diff["metrics"]["by_priority"]
        changed = sum(1 for row in rows if has_moved(row))
        beyond = sum(1 for row in rows if row["beyond_tolerance"])
        tolerance = _pct(diff["metrics"]["tolerance_pct"])
        parts.append(f"metrics ({changed} changed, {beyond} beyond ±{tolerance})")
    line = "differences: " + ", ".join(parts)
    return line if differences["dlq"] else line + "; DLQ: no difference"


def _blocks(diff: Diff, *, show_all: bool = False) -> list[_Block]:
    """What text and markdown show; rows that did not move only with `show_all` (--all)."""
    blocks: list[_Block] = [_describe_side("A", diff["a"]), _describe_side("B", diff["b"])]
    blocks.append(headline(diff))
    blocks += [f"note: {note}" for side in ("a", "b") for note in diff[side]["notes"]]
    if diff["differences"]["any"]:
        blocks += _settings_blocks(diff)
        blocks += _totals_blocks(diff, show_all=show_all)
        blocks += _dlq_blocks(diff, show_all=show_all)
    if diff["differences"]["any"] or not diff["metrics"]["available"]:
        blocks += _metrics_blocks(diff, show_all=show_all)
    return blocks


def _describe_side(label: str, side: dict[str, Any]) -> str:
    seed = "?" if side["seed"] is None else side["seed"]
    clock = f", {side['clock']} clock" if side["clock"] else ""
    return (
        f"{label}: {side['source']} ({side['kind']}: {side['scenario'] or 'unknown scenario'}, "
        f"seed {seed}{clock}, {side['dlq_count']} in the DLQ)"
    )


def _settings_blocks(diff: Diff) -> list[_Block]:
    settings = diff["settings"]
    if not settings["available"]:
        missing = " and ".join(s.upper() for s in ("a", "b") if not diff[s]["settings_available"])
        return [] if diff["same_scenario"] else [f"settings: unknown for {missing}"]
    if not settings["changes"]:
        if diff["same_scenario"]:
            return []
        return ["settings: the scenario files differ but no resolved setting does"]
    rows = [
        [change["path"], _setting(change, "a"), _setting(change, "b")]
        for change in settings["changes"]
    ]
    return [TitledTable("Settings that differ (A -> B)", ("setting", "A", "B"), rows)]


def _setting(change: dict[str, Any], side: str) -> str:
    absent = (change["change"], side) in {("added", "a"), ("removed", "b")}
    if absent:
        return "(absent)"
    value = change[side]
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 100 else text[:99] + "…"


def _totals_blocks(diff: Diff, *, show_all: bool) -> list[_Block]:
    if not diff["differences"]["totals"]:
        return ["totals: no difference"]
    rows = [
        [row["name"].replace("_", "-"), str(row["a"]), str(row["b"]), f"{row['delta']:+d}"]
        for row in diff["totals"]
        if show_all or row["delta"]
    ]
    title = "Totals" if show_all else "Totals that changed"
    return [TitledTable(title, ("total", "A", "B", "change"), rows)]


def _dlq_blocks(diff: Diff, *, show_all: bool) -> list[_Block]:
    dlq = diff["dlq"]
    if not diff["differences"]["dlq"]:
        return [f"DLQ: no difference ({diff['a']['dlq_count']} entries on each side)"]
    blocks: list[_Block] = [
        f"DLQ: {len(dlq['only_in_a'])} only in A, {len(dlq['only_in_b'])} only in B, "
        f"{len(dlq['changed'])} changed, {dlq['unchanged']} the same",
        *dlq_tables(dlq, A_AND_B),
    ]
    for key, label in (("reason", "reason"), ("priority", "priority"), ("type", "task type")):
        rows = [
            [
                f"P{row[key]}" if key == "priority" else str(row[key]),
                str(row["a"]),
                str(row["b"]),
                f"{row['delta']:+d}",
            ]
            for row in dlq[f"by_{key}"]
            if show_all or row["delta"]
        ]
        if rows:
            blocks.append(TitledTable(f"DLQ by {label}", (label, "A", "B", "change"), rows))
    return blocks


def _metrics_blocks(diff: Diff, *, show_all: bool) -> list[_Block]:
    metrics = diff["metrics"]
    if not metrics["available"]:
        return [
            f"metrics: unavailable for {side.upper()} ({reason})"
            for side, reason in sorted(metrics["unavailable"].items())
        ]
    every = metrics["by_priority"]
    shown = every if show_all else [row for row in every if has_moved(row)]
    if not shown:
        return [
            "metrics: no difference (wait p50/p95/p99, throughput, success rate per priority; "
            "changes under 1ms, 0.01/s or 0.01 pts are noise)"
        ]
    tolerance = _pct(metrics["tolerance_pct"])
    rows = [_metric_cells(row, tolerance) for row in shown]
    headers = ("priority", "metric", "A", "B", "change", "relative", "verdict")
    title = "Metrics per priority" if show_all else "Metrics per priority that changed"
    legend = (
        "✓ better / ✗ worse: lower waits, higher throughput and success rate are better; "
        f"*: moved more than ±{tolerance} (--tolerance; what --fail-on metrics counts)"
    )
    hidden = len(every) - len(shown)
    if hidden:
        legend += (
            f"; {hidden} per-priority metrics that did not move (or by less than 1ms, "
            "0.01/s, 0.01 pts) not shown: --all shows them"
        )
    return [TitledTable(title, headers, rows), legend]


def _metric_cells(row: dict[str, Any], tolerance: str) -> list[str]:
    return [
        f"P{row['priority']}",
        _METRIC_LABELS[row["metric"]],
        _metric(row["metric"], row["a"]),
        _metric(row["metric"], row["b"]),
        _metric(row["metric"], row["delta"], change=True),
        "-" if row["change_pct"] is None else f"{row['change_pct']:+.1f}%",
        _verdict(row, tolerance),
    ]


def _verdict(row: dict[str, Any], tolerance: str) -> str:
    """`✓ better`, `✗ worse` (a `*` past the tolerance), or why neither."""
    if not has_moved(row):
        return "same" if row["a"] == row["b"] else "noise"
    better = is_better(row)
    if better is None:
        verdict = "appeared" if row["a"] is None else "vanished"
    else:
        verdict = "✓ better" if better else "✗ worse"
    return f"{verdict}*" if row["beyond_tolerance"] else verdict


_METRIC_LABELS: Final = {
    "wait_p50_s": "wait p50",
    "wait_p95_s": "wait p95",
    "wait_p99_s": "wait p99",
    "throughput_per_s": "throughput",
    "success_rate": "success rate",
}


def _metric(name: str, value: float | None, *, change: bool = False) -> str:
    """A metric's value (`1.20ms`, `12.50/s`, `99.50%`), or with `change` a signed change
    of it (`+1.20ms`, `-0.50/s`, `+0.25 pts`)."""
    if value is None:
        return "-"
    sign = "+" if change else ""
    if name == "throughput_per_s":
        return f"{value:{sign}.2f}/s"
    if name == "success_rate":
        return f"{value * 100:{sign}.2f}" + (" pts" if change else "%")
    return ("+" if change and value >= 0 else "") + display_duration(value)


def _pct(value: float) -> str:
    return f"{value:g}%"


_NUMBER: Final = re.compile(r"^([-+]?[\d.]+(ms|s|%|/s| pts)?|-|)$")
"""A cell right-aligned in text tables: a count, a duration, a rate, a percentage."""


# -- text and markdown -------------------------------------------------------------------


def render_text(diff: Diff, *, show_all: bool = False) -> RenderableType:
    """The diff as plain lines and rich tables, readable without colour (`show_all`: every
    row, moved or not)."""
    parts: list[RenderableType] = []
    for block in _blocks(diff, show_all=show_all):
        if isinstance(block, str):
            parts.append(Text(block))
            continue
        table = Table(
            title=block.title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            min_width=len(block.title) + 2,
        )
        for index, header in enumerate(block.headers):
            numbers = all(_NUMBER.match(row[index]) for row in block.rows)
            table.add_column(header, justify="right" if numbers else "left", overflow="fold")
        for row in block.rows:
            table.add_row(*(Text(cell) for cell in row))
        parts.append(table)
        if block.more:
            parts.append(Text(more_line(block.more)))
    return Group(*parts)


def render_markdown(diff: Diff, *, show_all: bool = False) -> str:
    """The diff as GitHub-flavoured markdown (for a PR comment or $GITHUB_STEP_SUMMARY)."""
    lines = ["## dtq diff", ""]
    for block in _blocks(diff, show_all=show_all):
        if isinstance(block, str):
            lines += [block, ""]
            continue
        lines += markdown_lines(block)
    return "\n".join(lines).rstrip() + "\n"
