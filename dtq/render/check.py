"""The text and markdown of `dtq check`: what checking each scenario found, laid out.

The text format is a ✓/✗ line per scenario with the reasons of each failure under it;
the markdown format (a PR comment or $GITHUB_STEP_SUMMARY) is a table of scenarios, then
each failing scenario's DLQ differences in the tables `dtq diff` draws them with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from dtq.compare.check import CheckRun, ScenarioCheck
from dtq.compare.diff import DlqChanges, dlq_entries
from dtq.fold.expect import format_checks
from dtq.render.dlq_changes import SideWords, dlq_tables
from dtq.render.markdown import markdown_table
from dtq.render.tables import MAX_LISTED, markdown_lines

SCENARIO_CHANGED = "scenario changed; DLQ unchanged"
BASELINE_AND_RUN: Final = SideWords(
    only_in_a="Only in the baseline (no longer dead-lettered)",
    only_in_b="Only in this run (newly dead-lettered)",
    changed="Dead-lettered differently",
    change="baseline -> now",
)
"""How dtq check names the baseline and this run in the DLQ tables."""


# -- text --------------------------------------------------------------------------------


def text_lines(run: CheckRun) -> list[str]:
    """A ✓/✗ line per scenario, then the reasons of each failure, indented, then a tally."""
    lines: list[str] = []
    for result in run.results:
        mark = "✓" if result.passed else "✗"
        if result.error is not None:
            lines.append(f"✗ {result.path}: cannot check:")
            lines += [f"    {line}" for line in result.error.splitlines()]
            continue
        lines.append(f"{mark} {result.name}: {counts(result)}")
        lines += [f"    {detail}" for detail in details(result)]
    lines += [f"warning: {warning}" for warning in run.warnings]
    lines.append(tally(run))
    return lines


def counts(result: ScenarioCheck) -> str:
    """`submitted 9980, succeeded 9912, dead-lettered 68, DLQ changes 0`."""
    if result.outcome is None:
        return ""
    totals = result.outcome.totals
    changes = "-" if result.dlq is None else str(result.dlq.count)
    return (
        f"submitted {totals['submitted']}, succeeded {totals['succeeded']}, "
        f"dead-lettered {totals['dead_lettered']}, DLQ changes {changes}"
    )


def details(result: ScenarioCheck) -> list[str]:
    """What there is to say about one checked scenario: failures first, then notes."""
    lines: list[str] = []
    if result.missing_baseline:
        lines.append(f"no baseline {result.baseline_path}; write it with: {result.update_command}")
    if result.dlq is not None and result.dlq.count and result.written is None:
        lines += _dlq_lines(result, result.dlq)
    if result.totals_changed and result.written is None:
        lines.append(
            "totals differ from the baseline although the scenario did not change: "
            + ", ".join(result.totals_changed)
        )
    lines += [line for line in format_checks(result.checks) if line.startswith("✗")]
    if result.scenario_changed and result.dlq is not None and result.dlq.count == 0:
        lines.append(f"note: {SCENARIO_CHANGED}" + _settings_note(result))
    if result.written is not None:
        verb = "written" if result.written else "unchanged"
        change = f" ({result.dlq_changes} DLQ changes)" if result.dlq_changes else ""
        lines.append(f"baseline {verb}: {result.baseline_path}{change}")
    return lines


def _settings_note(result: ScenarioCheck) -> str:
    changed = result.settings_changed
    if not changed:
        return ""
    shown = "; ".join(changed[:5])
    more = f"; and {len(changed) - 5} more" if len(changed) > 5 else ""
    return f" ({shown}{more})"


def _dlq_lines(result: ScenarioCheck, dlq: DlqChanges) -> list[str]:
    lines = [
        f"DLQ differs from {result.baseline_path}: {len(dlq.only_in_a)} only in the baseline, "
        f"{len(dlq.only_in_b)} only in this run, {len(dlq.changed)} changed"
    ]
    sections = (
        ("only in the baseline", [r.task_id for r in dlq.only_in_a]),
        ("only in this run", [r.task_id for r in dlq.only_in_b]),
        ("changed", [c.a.task_id for c in dlq.changed]),
    )
    for title, ids in sections:
        if ids:
            lines.append(f"  {title}: {_listed(ids)}")
    if result.settings_changed:
        lines.append("  settings changed: " + _settings_note(result).strip(" ()"))
    lines.append(f"  details: {result.diff_command()}")
    lines.append(f"  if the change is intended: {result.update_command}")
    return lines


def _listed(ids: Sequence[str]) -> str:
    more = f" ... and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else ""
    return ", ".join(ids[:MAX_LISTED]) + more


def tally(run: CheckRun) -> str:
    """`6 scenarios: 5 passed, 1 failed` (and errors, and the baselines written)."""
    total = len(run.results)
    passed = sum(1 for r in run.results if r.passed)
    errors = sum(1 for r in run.results if r.error is not None)
    parts = [f"{passed} passed", f"{total - passed - errors} failed"]
    if errors:
        parts.append(f"{errors} could not be checked")
    if run.update:
        written = sum(1 for r in run.results if r.written)
        parts.append(f"{written} baseline{'' if written == 1 else 's'} written")
    noun = "scenario" if total == 1 else "scenarios"
    return f"{total} {noun}: " + ", ".join(parts)


# -- markdown ----------------------------------------------------------------------------


def markdown_summary(run: CheckRun) -> str:
    """A table of scenarios and results, then each failing scenario's DLQ differences."""
    headers = (
        "scenario",
        "result",
        "submitted",
        "succeeded",
        "dead-lettered",
        "DLQ changes",
        "details",
    )
    rows = [_summary_row(result) for result in run.results]
    lines = [f"## dtq check: {tally(run)}", "", *markdown_table(headers, rows), ""]
    lines += [f"> warning: {warning}" for warning in run.warnings]
    for result in run.results:
        if result.dlq is not None and result.dlq.count and result.written is None:
            lines += [*_markdown_dlq(result, result.dlq), ""]
    return "\n".join(lines).rstrip() + "\n"


def _summary_row(result: ScenarioCheck) -> list[str]:
    if result.error is not None:
        return [result.path, "✗ error", "", "", "", "", _cell(result.error.splitlines())]
    totals = result.outcome.totals if result.outcome is not None else {}
    return [
        result.name,
        "✓ passed" if result.passed else "✗ failed",
        str(totals.get("submitted", "")),
        str(totals.get("succeeded", "")),
        str(totals.get("dead_lettered", "")),
        "-" if result.dlq is None else str(result.dlq.count),
        "<br>".join(_short_details(result)),
    ]


def _short_details(result: ScenarioCheck) -> list[str]:
    """The summary table's cell: one short line per finding (DLQ entries listed below it)."""
    lines: list[str] = []
    if result.missing_baseline:
        lines.append(f"no baseline: run `{result.update_command}`")
    dlq = result.dlq
    if dlq is not None and dlq.count and result.written is None:
        lines.append(
            f"DLQ: {len(dlq.only_in_a)} left, {len(dlq.only_in_b)} new, {len(dlq.changed)} changed"
        )
    if result.totals_changed and result.written is None:
        lines.append("totals changed: " + ", ".join(result.totals_changed))
    lines += [check.line() for check in result.checks if not check.passed]
    if result.scenario_changed and dlq is not None and dlq.count == 0:
        lines.append(SCENARIO_CHANGED)
    if result.written is not None:
        lines.append("baseline written" if result.written else "baseline unchanged")
    return lines


def _cell(lines: Iterable[str]) -> str:
    return "<br>".join(line.strip().replace("`", "'") for line in lines)


def _markdown_dlq(result: ScenarioCheck, dlq: DlqChanges) -> list[str]:
    lines = [f"### ✗ {result.name}: DLQ differences from `{result.baseline_path}`", ""]
    for table in dlq_tables(dlq_entries(dlq), BASELINE_AND_RUN):
        lines += markdown_lines(table, level=4)
    lines.append(f"Details: `{result.diff_command()}`; if intended: `{result.update_command}`")
    return lines
