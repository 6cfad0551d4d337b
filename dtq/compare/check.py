"""`dtq check`: run scenarios on the virtual clock, hold each to its baseline and expectations.

A scenario passes when its DLQ is the one `baselines/<name>.json` records (and, with the
scenario file unchanged, so are its totals) and every `expect:` threshold holds. With
`update`, the baselines are rewritten instead of compared; expectations still count.
What was found is laid out as text and markdown by dtq/render/check.py.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
from dtq.compare.diff import DlqChanges, compare_dlq, settings_changes
from dtq.errors import DtqError, Interrupted
from dtq.fold.expect import Check, evaluate
from dtq.scenario import LoadedScenario, load_scenario
from dtq.scenario.overrides import Override

SCENARIO_GLOBS = ("*.yaml", "*.yml")
DEFAULT_SCENARIOS = Path("scenarios")


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
