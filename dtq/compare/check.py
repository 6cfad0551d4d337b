"""`dtq check`: run scenarios on the virtual clock, hold each to its baseline and expectations.

A scenario passes when its DLQ is the one `baselines/<name>.json` records (and, with the
scenario file unchanged, so are its totals) and every `expect:` threshold holds. With
`update`, the baselines are rewritten instead of compared; expectations still count.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from dtq.compare.baseline import (
    DEFAULT_BASELINES,
    KIND_SCENARIO,
    BaselineError,
    RunResults,
    build_baseline,
    display_path,
    read_baseline,
    results_from_state,
    simulate_scenario,
    write_baseline,
)
from dtq.compare.diff import DlqChanges, compare_dlq, dlq_entries, settings_changes
from dtq.errors import DtqError, Interrupted
from dtq.fold.expect import Check, evaluate, format_checks
from dtq.render.dlq_changes import SideWords, dlq_tables
from dtq.render.markdown import markdown_table
from dtq.render.tables import MAX_LISTED, markdown_lines
from dtq.scenario import LoadedScenario, load_scenario
from dtq.scenario.overrides import Override

SCENARIO_GLOBS = ("*.yaml", "*.yml")
DEFAULT_SCENARIOS = Path("scenarios")
SCENARIO_CHANGED = "scenario changed; DLQ unchanged"
BASELINE_AND_RUN: Final = SideWords(
    only_in_a="Only in the baseline (no longer dead-lettered)",
    only_in_b="Only in this run (newly dead-lettered)",
    changed="Dead-lettered differently",
    change="baseline -> now",
)
"""How dtq check names the baseline and this run in the DLQ tables."""


@dataclass
class ScenarioCheck:
    """What checking one scenario found."""

    path: str
    name: str
    baseline_path: Path
    update_command: str
    outcome: RunResults | None = None
    checks: list[Check] = field(default_factory=list)
    dlq: DlqChanges | None = None
    totals_changed: list[str] = field(default_factory=list)
    settings_changed: list[str] = field(default_factory=list)
    scenario_changed: bool = False
    missing_baseline: bool = False
    written: bool | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        """No error, a baseline that matches (or was just written), every threshold held."""
        return (
            self.error is None
            and not self.missing_baseline
            and (self.dlq is None or self.dlq.count == 0 or self.written is not None)
            and (not self.totals_changed or self.written is not None)
            and all(check.passed for check in self.checks)
        )

    @property
    def dlq_changes(self) -> int:
        """Task ids whose DLQ outcome differs from the baseline's (0 with no baseline)."""
        return self.dlq.count if self.dlq is not None else 0

    def counts(self) -> str:
        """`submitted 9980, succeeded 9912, dead-lettered 68, DLQ changes 0`."""
        if self.outcome is None:
            return ""
        totals = self.outcome.totals
        changes = "-" if self.dlq is None else str(self.dlq.count)
        return (
            f"submitted {totals['submitted']}, succeeded {totals['succeeded']}, "
            f"dead-lettered {totals['dead_lettered']}, DLQ changes {changes}"
        )

    def diff_command(self) -> str:
        """The command that shows this scenario's differences in full."""
        return f"dtq diff {shlex.quote(str(self.baseline_path))} {shlex.quote(self.path)}"


@dataclass
class CheckRun:
    """Every scenario checked, and warnings about the baselines folder."""

    results: list[ScenarioCheck]
    warnings: list[str]
    update: bool

    @property
    def exit_code(self) -> int:
        """2 a scenario could not be checked, 1 any failure, else 0."""
        if any(result.error is not None for result in self.results):
            return 2
        return 0 if all(result.passed for result in self.results) else 1


def default_scenarios(folder: Path = DEFAULT_SCENARIOS) -> list[Path]:
    """Every scenario file in `folder`, sorted by name."""
    found = sorted({path for pattern in SCENARIO_GLOBS for path in folder.glob(pattern)})
    if not found:
        raise DtqError(
            f"no scenarios given and {folder}/ has no .yaml files; name scenario files, "
            "or run dtq check from the project folder"
        )
    return found


def check_scenarios(
    paths: Sequence[Path],
    *,
    baselines: Path = DEFAULT_BASELINES,
    update: bool = False,
    every_scenario: bool = False,
    overrides: Sequence[Override] = (),
) -> CheckRun:
    """Check (or, with `update`, rebaseline) every scenario; bad ones are reported, not raised."""
    results: list[ScenarioCheck] = []
    owners: dict[str, str] = {}
    for path in paths:
        shown = display_path(path)
        result = ScenarioCheck(shown, Path(shown).stem, baselines / f"{Path(shown).stem}.json", "")
        try:
            scenario = load_scenario(shown, overrides=overrides)
        except DtqError as exc:
            result.error = str(exc)
            results.append(result)
            continue
        result.name = scenario.name
        result.baseline_path = baselines / f"{scenario.name}.json"
        result.update_command = _update_command(shown, baselines)
        if scenario.name in owners:
            result.error = (
                f"{shown} and {owners[scenario.name]} are both named {scenario.name!r}; "
                f"one baseline file cannot hold both: rename one (its name: key)"
            )
        else:
            owners[scenario.name] = shown
            _check_one(result, scenario, update=update)
        results.append(result)
    warnings = _orphans(baselines, set(owners), every_scenario=every_scenario)
    return CheckRun(results, warnings, update)


def _update_command(path: str, baselines: Path) -> str:
    folder = "" if baselines == DEFAULT_BASELINES else f" --baselines {shlex.quote(str(baselines))}"
    return f"dtq check {shlex.quote(path)}{folder} --update"


def _check_one(result: ScenarioCheck, scenario: LoadedScenario, *, update: bool) -> None:
    try:
        state = simulate_scenario(scenario)
    except Interrupted:
        raise  # Ctrl-C stops the whole check (exit 130), not just this scenario
    except DtqError as exc:
        result.error = str(exc)
        return
    outcome = results_from_state(state, source=result.path, kind=KIND_SCENARIO)
    result.outcome = outcome
    result.checks = evaluate(scenario.model.expect, state)
    baseline = _read(result, update=update)
    if baseline is not None:
        _compare(result, baseline, outcome)
    if update:
        try:
            result.written = write_baseline(
                result.baseline_path, build_baseline(outcome, result.checks)
            )
        except DtqError as exc:
            result.error = str(exc)


def _read(result: ScenarioCheck, *, update: bool) -> RunResults | None:
    if not result.baseline_path.is_file():
        result.missing_baseline = not update
        return None
    try:
        return read_baseline(
            result.baseline_path, fix=f"write it again with: {result.update_command}"
        )
    except BaselineError as exc:
        if not update:  # an update rewrites a broken baseline anyway
            result.error = str(exc)
        return None


def _compare(result: ScenarioCheck, baseline: RunResults, outcome: RunResults) -> None:
    result.dlq = compare_dlq(baseline.dlq, outcome.dlq)
    result.scenario_changed = baseline.scenario_sha256 != outcome.scenario_sha256
    if baseline.settings is not None and outcome.settings is not None:
        result.settings_changed = [
            f"{change['path']}: {_short(change['a'])} -> {_short(change['b'])}"
            for change in settings_changes(baseline.settings, outcome.settings)
        ]
    if not result.scenario_changed:
        # Same file, same seed, same virtual clock: any other total is a change in dtq itself.
        result.totals_changed = [
            f"{key} {baseline.totals[key]} -> {value}"
            for key, value in outcome.totals.items()
            if baseline.totals.get(key) != value
        ]


def _short(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:39] + "…"


def _orphans(baselines: Path, names: set[str], *, every_scenario: bool) -> list[str]:
    """Baselines with no scenario: unchecked when every scenario ran, or their file is gone."""
    warnings = []
    for path in sorted(baselines.glob("*.json")) if baselines.is_dir() else []:
        if path.stem in names:
            continue
        try:
            recorded = read_baseline(path).scenario_path
        except BaselineError as exc:
            warnings.append(str(exc))
            continue
        if not Path(recorded).is_file():
            warnings.append(
                f"{path} has no scenario ({recorded} does not exist): delete the baseline, "
                "or restore its scenario"
            )
        elif every_scenario:
            warnings.append(
                f"{path} has no scenario: none of {DEFAULT_SCENARIOS}/ is named {path.stem!r} "
                f"(the baseline was written for {recorded}); delete it, or rename the scenario back"
            )
    return warnings


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
        lines.append(f"{mark} {result.name}: {result.counts()}")
        lines += [f"    {detail}" for detail in details(result)]
    lines += [f"warning: {warning}" for warning in run.warnings]
    lines.append(tally(run))
    return lines


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
