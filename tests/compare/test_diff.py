"""`dtq diff`: inputs of three kinds, DLQ matched by task id, settings, metrics, three formats."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from dtq.cli import main
from dtq.commands.diff import load_side
from dtq.compare.baseline import (
    KIND_LOG,
    KIND_SCENARIO,
    PriorityMetrics,
    RunResults,
    baseline_results,
    build_baseline,
)
from dtq.compare.diff import (
    DIFF_JSON_SCHEMA,
    build_diff,
    compare_dlq,
    is_failure,
    settings_changes,
)
from dtq.errors import UsageError
from dtq.events import TOTAL_KEYS
from dtq.fold.state import DlqRecord
from dtq.render.diff import render_markdown, render_text
from dtq.render.tables import MAX_LISTED
from tests.compare.conftest import ROOT, SCENARIOS, write_tiny
from tests.compare.schema_subset import validate

BURST = str(SCENARIOS / "burst.yaml")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`dtq ARGV` in-process: exit code, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def text_of(diff: dict[str, Any]) -> str:
    """The text rendering as a colourless 120-column terminal shows it."""
    console = Console(record=True, width=120, color_system=None)
    console.print(render_text(diff))
    return console.export_text()


def record(task_id: str, **fields: Any) -> DlqRecord:
    """A DLQ record with plausible defaults."""
    values: dict[str, Any] = {
        "type": "job",
        "priority": 2,
        "reason": "exhausted",
        "attempts": 3,
        "last_error": "network",
    }
    values.update(fields)
    return DlqRecord(task_id=task_id, **values)


def outcome(
    dlq: Sequence[DlqRecord] = (),
    *,
    metrics: dict[int, PriorityMetrics] | None = None,
    settings: dict[str, Any] | None = None,
    sha: str = "s1",
) -> RunResults:
    """A synthetic log outcome: the comparisons need no run."""
    return RunResults(
        source="x.jsonl",
        kind=KIND_LOG,
        scenario="x",
        scenario_path="scenarios/x.yaml",
        scenario_sha256=sha,
        seed=1,
        clock="virtual",
        dtq="0.1.0",
        status="completed",
        settings=settings if settings is not None else {"retry": {"max_attempts": 3}},
        totals=dict.fromkeys(
            TOTAL_KEYS,
            0,
        ),
        dlq={r.task_id: r for r in dlq},
        metrics=metrics if metrics is not None else {},
    )


def waits(p95: float | None, *, rate: float = 10.0) -> PriorityMetrics:
    """Metrics of one priority with the given p95 wait."""
    return PriorityMetrics(p95, p95, p95, rate, 1.0)


# -- acceptance ---------------------------------------------------------------------------


def test_a_scenario_against_itself_has_no_difference(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "diff", BURST, BURST)
    assert code == 0
    assert "no difference" in out
    assert "differences:" not in out


def test_raising_max_attempts_lists_the_tasks_that_left_the_dlq(
    capsys: pytest.CaptureFixture[str], burst8: Path
) -> None:
    code, out, _ = run_cli(capsys, "diff", BURST, str(burst8), "--format", "json")
    diff = json.loads(out)
    assert code == 1
    left = diff["dlq"]["only_in_a"]
    assert left, "more attempts must save some task from the DLQ"
    # Only tasks that ran out of attempts can be saved by more attempts.
    assert {(e["reason"], e["attempts"]) for e in left} == {("exhausted", 4)}
    assert diff["dlq"]["only_in_b"] == []
    assert {"path": "retry.max_attempts", "change": "changed", "a": 4, "b": 8} in diff["settings"][
        "changes"
    ]

    code, out, _ = run_cli(capsys, "diff", BURST, str(burst8))
    assert code == 1
    assert re.search(r"retry\.max_attempts\s+4\s+8", out)
    for entry in left:
        assert entry["task_id"] in out


def test_priority_scheduling_lowers_the_urgent_wait(capsys: pytest.CaptureFixture[str]) -> None:
    fifo, priority = str(SCENARIOS / "fifo.yaml"), str(SCENARIOS / "priority.yaml")
    code, out, _ = run_cli(capsys, "diff", fifo, priority, "--fail-on", "none", "--format", "json")
    diff = json.loads(out)
    assert code == 0
    assert validate(diff, DIFF_JSON_SCHEMA) == []
    rows = {(r["priority"], r["metric"]): r for r in diff["metrics"]["by_priority"]}
    p95 = rows[(1, "wait_p95_s")]
    assert p95["b"] < p95["a"]
    assert p95["change_pct"] < -10 and p95["beyond_tolerance"]
    assert {c["path"] for c in diff["settings"]["changes"]} == {"name", "scheduler.policy"}
    assert diff["differences"]["dlq"] is False


def test_markdown_output_is_github_tables(capsys: pytest.CaptureFixture[str]) -> None:
    fifo, priority = str(SCENARIOS / "fifo.yaml"), str(SCENARIOS / "priority.yaml")
    code, out, _ = run_cli(capsys, "diff", fifo, priority, "--format", "markdown")
    assert code == 0  # the DLQs agree and --fail-on dlq is the default
    assert "| --- |" in out
    assert "| scheduler.policy | fifo | priority |" in out


def test_fail_on_metrics_fails_beyond_the_tolerance_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fifo, priority = str(SCENARIOS / "fifo.yaml"), str(SCENARIOS / "priority.yaml")
    assert run_cli(capsys, "diff", fifo, priority, "--fail-on", "metrics")[0] == 1
    loose = run_cli(capsys, "diff", fifo, priority, "--fail-on", "metrics", "--tolerance", "1000")
    assert loose[0] == 0


# -- inputs -------------------------------------------------------------------------------


def test_a_log_and_its_scenario_agree(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = write_tiny(tmp_path)
    log = tmp_path / "run.jsonl"
    assert main(["run", str(scenario), "--clock", "virtual", "--log", str(log), "--quiet"]) == 0
    capsys.readouterr()
    code, out, _ = run_cli(capsys, "diff", str(log), str(scenario), "--format", "json")
    diff = json.loads(out)
    assert code == 0
    assert not diff["differences"]["any"]
    assert diff["a"]["kind"] == "log" and diff["b"]["kind"] == "scenario"
    assert diff["a"]["dlq_count"] > 0


def test_kinds_are_told_by_content_when_the_extension_says_nothing(tmp_path: Path) -> None:
    scenario = write_tiny(tmp_path)
    as_text = tmp_path / "scenario.txt"
    as_text.write_bytes(scenario.read_bytes())
    side = load_side(as_text)
    assert side.kind == KIND_SCENARIO
    baseline = tmp_path / "baseline.data"
    baseline.write_text(json.dumps(build_baseline(side, [])), encoding="utf-8")
    from_baseline = load_side(baseline)
    assert from_baseline.kind == "baseline"
    assert from_baseline.dlq == side.dlq and from_baseline.metrics is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("just some words\n", "not an event log, a baseline or a scenario"),
        ('{"a": 1}\n', "not an event log, a baseline or a scenario"),
    ],
)
def test_a_file_of_no_known_kind_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    odd = tmp_path / "odd.txt"
    odd.write_text(content, encoding="utf-8")
    code, out, err = run_cli(capsys, "diff", str(odd), str(odd))
    assert code == 2
    assert f"{odd}: {message}" in err
    assert "Traceback" not in err + out


def test_missing_files_and_folders_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        load_side(tmp_path / "nope.jsonl")
    with pytest.raises(UsageError, match="is a directory"):
        load_side(tmp_path)


def test_metrics_cannot_fail_a_diff_against_a_baseline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = write_tiny(tmp_path)
    baseline = tmp_path / "tiny.json"
    baseline.write_text(json.dumps(build_baseline(load_side(scenario), [])), encoding="utf-8")
    code, _, err = run_cli(capsys, "diff", str(baseline), str(scenario), "--fail-on", "metrics")
    assert code == 2
    assert "holds no wait times" in err
    code, out, _ = run_cli(capsys, "diff", str(baseline), str(scenario))
    assert code == 0
    assert "no difference" in out and "metrics: unavailable for A" in out


def test_a_negative_tolerance_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "diff", BURST, BURST, "--tolerance", "-1")
    assert code == 2 and "--tolerance" in err


# -- comparing ----------------------------------------------------------------------------


def test_dlq_entries_are_matched_by_task_id() -> None:
    a = {r.task_id: r for r in [record("j-1"), record("j-2"), record("j-3", attempts=2)]}
    b = {r.task_id: r for r in [record("j-2"), record("j-3", attempts=3), record("j-4")]}
    changes = compare_dlq(a, b)
    assert [r.task_id for r in changes.only_in_a] == ["j-1"]
    assert [r.task_id for r in changes.only_in_b] == ["j-4"]
    assert [(c.a.task_id, c.fields) for c in changes.changed] == [("j-3", ("attempts",))]
    assert changes.count == 3


def test_dlq_counts_are_grouped_by_reason_priority_and_type() -> None:
    a = outcome([record("j-1"), record("r-1", type="report", priority=8, reason="timeout")])
    b = outcome([record("j-1"), record("j-2", reason="non_retryable")])
    dlq = build_diff(a, b)["dlq"]
    assert dlq["by_reason"] == [
        {"reason": "exhausted", "a": 1, "b": 1, "delta": 0},
        {"reason": "non_retryable", "a": 0, "b": 1, "delta": 1},
        {"reason": "timeout", "a": 1, "b": 0, "delta": -1},
    ]
    assert dlq["by_priority"] == [
        {"priority": 2, "a": 1, "b": 2, "delta": 1},
        {"priority": 8, "a": 1, "b": 0, "delta": -1},
    ]
    assert [row["type"] for row in dlq["by_type"]] == ["job", "report"]


def test_settings_differences_are_dotted_paths() -> None:
    a = {"retry": {"max_attempts": 4}, "arrivals": [{"rate": 1}], "task_types": {"a": {}}}
    b = {"retry": {"max_attempts": 6}, "arrivals": [{"rate": 2}], "task_types": {"b": {}}}
    assert settings_changes(a, b) == [
        {"path": "arrivals[0].rate", "change": "changed", "a": 1, "b": 2},
        {"path": "retry.max_attempts", "change": "changed", "a": 4, "b": 6},
        {"path": "task_types.a", "change": "removed", "a": {}, "b": None},
        {"path": "task_types.b", "change": "added", "a": None, "b": {}},
    ]
    shorter = settings_changes({"arrivals": [1, 2]}, {"arrivals": [1]})
    assert shorter == [{"path": "arrivals", "change": "changed", "a": [1, 2], "b": [1]}]


def test_metric_changes_are_held_to_the_tolerance() -> None:
    a = outcome(metrics={1: waits(0.100), 2: waits(0.0), 3: waits(0.5)})
    b = outcome(metrics={1: waits(0.105), 2: waits(0.001), 4: waits(0.5)})
    rows = {
        (r["priority"], r["metric"]): r
        for r in build_diff(a, b, tolerance_pct=10)["metrics"]["by_priority"]
    }
    assert rows[(1, "wait_p95_s")]["change_pct"] == pytest.approx(5.0)
    assert not rows[(1, "wait_p95_s")]["beyond_tolerance"]
    assert rows[(2, "wait_p95_s")]["change_pct"] is None  # from zero: no finite ratio
    assert rows[(2, "wait_p95_s")]["beyond_tolerance"]
    assert rows[(3, "throughput_per_s")]["b"] is None  # priority 3 vanished
    assert rows[(3, "throughput_per_s")]["beyond_tolerance"]
    assert not rows[(1, "throughput_per_s")]["beyond_tolerance"]
    strict = build_diff(a, b, tolerance_pct=1)["metrics"]["by_priority"]
    assert [r["beyond_tolerance"] for r in strict if r["priority"] == 1][:3] == [True] * 3


def test_fail_on_decides_what_counts() -> None:
    same_dlq = build_diff(outcome(metrics={1: waits(0.1)}), outcome(metrics={1: waits(0.3)}))
    assert not is_failure(same_dlq, "dlq")
    assert is_failure(same_dlq, "metrics")
    other_dlq = build_diff(outcome([record("j-1")]), outcome())
    assert is_failure(other_dlq, "dlq")
    assert not is_failure(other_dlq, "metrics")
    assert not is_failure(other_dlq, "none")


def test_long_task_lists_are_cut_in_text_and_markdown_but_not_in_json() -> None:
    many = [record(f"j-{i:03d}") for i in range(MAX_LISTED + 12)]
    diff = build_diff(outcome(many), outcome())
    assert len(diff["dlq"]["only_in_a"]) == MAX_LISTED + 12
    assert validate(diff, DIFF_JSON_SCHEMA) == []
    for shown in (text_of(diff), render_markdown(diff)):
        assert "j-049" in shown and "j-050" not in shown
        assert "... and 12 more" in shown


def test_a_changed_entry_says_what_changed() -> None:
    a = outcome([record("j-1", attempts=2, last_error="timeout")])
    b = outcome([record("j-1", attempts=3, last_error="network")])
    text = text_of(build_diff(a, b))
    assert "attempts 2 -> 3; last_error timeout -> network" in text


def test_scenario_files_that_differ_only_in_comments_say_so() -> None:
    diff = build_diff(outcome(sha="s1"), outcome(sha="s2"))
    assert diff["differences"]["settings"]
    assert "no resolved setting does" in text_of(diff)


# -- the JSON shape -----------------------------------------------------------------------


def test_the_schema_validator_catches_a_broken_shape() -> None:
    diff = build_diff(outcome([record("j-1")]), outcome())
    assert validate(diff, DIFF_JSON_SCHEMA) == []
    broken = json.loads(json.dumps(diff))
    del broken["dlq"]["only_in_b"]
    broken["dlq"]["only_in_a"][0]["attempts"] = "3"
    broken["extra"] = 1
    problems = validate(broken, DIFF_JSON_SCHEMA)
    assert "$.dlq: missing 'only_in_b'" in problems
    assert "$.dlq.only_in_a[0].attempts: expected integer, got str" in problems
    assert "$: unexpected key 'extra'" in problems


def test_every_json_field_is_documented() -> None:
    doc = (ROOT / "docs" / "diff-json.md").read_text(encoding="utf-8")

    def names(schema: Any) -> set[str]:
        if not isinstance(schema, dict):
            return set()
        found = set(schema.get("properties", {}))
        for value in [*schema.get("properties", {}).values(), *schema.get("$defs", {}).values()]:
            found |= names(value)
        return found | names(schema.get("items"))

    missing = {name for name in names(DIFF_JSON_SCHEMA) if f"`{name}`" not in doc}
    assert missing == set()


def test_a_baseline_keeps_what_the_diff_compares(tmp_path: Path) -> None:
    side = load_side(write_tiny(tmp_path))
    restored = baseline_results(json.loads(json.dumps(build_baseline(side, []))), source="b")
    assert restored.dlq == side.dlq
    assert restored.totals == side.totals
    assert restored.settings == side.settings
    assert build_diff(replace(side, kind="log"), restored)["differences"]["any"] is False


# -- what the text shows: direction, noise, unchanged rows -----------------------------------


def test_marks_say_whether_a_change_is_better_or_worse() -> None:
    """A wait that drops is ✓ better, one that grows ✗ worse; a throughput drop is worse."""
    a = outcome(metrics={1: waits(0.0807, rate=10.0), 5: waits(0.0785)})
    b = outcome(metrics={1: waits(0.0154, rate=8.0), 5: waits(0.0943)})
    lines = text_of(build_diff(a, b)).splitlines()

    def verdict(priority: str, metric: str) -> str:
        key = [priority, *metric.split()]
        row = next(line for line in lines if line.split()[: len(key)] == key)
        return row.split()[-2] + " " + row.split()[-1]

    assert verdict("P1", "wait p95") == "✓ better*"
    assert verdict("P5", "wait p95") == "✗ worse*"
    assert verdict("P1", "throughput").startswith("✗ worse")


def test_sub_millisecond_noise_is_not_a_change() -> None:
    """0.461ms -> 0.41ms is -11% but half a millisecond: not shown, not failed on."""
    a = outcome(metrics={1: waits(0.000461)})
    b = outcome(metrics={1: waits(0.00041)})
    diff = build_diff(a, b, tolerance_pct=10)
    assert not diff["differences"]["metrics"]
    assert not is_failure(diff, "metrics")
    assert "0.41ms" not in text_of(diff)


def test_rows_that_did_not_move_are_hidden_unless_all_is_asked_for() -> None:
    """A one-setting change lists the moved metrics and totals only; --all lists every row."""
    a = outcome(metrics={1: waits(0.010), 2: waits(0.050)}, settings={"workers": 4})
    b = outcome(metrics={1: waits(0.020), 2: waits(0.050)}, settings={"workers": 8})
    diff = build_diff(a, b)
    console = Console(record=True, width=120, color_system=None)
    console.print(render_text(diff, show_all=True))
    every = console.export_text()
    shown = text_of(diff)
    assert "P1" in shown and "P2" not in shown and "--all shows them" in shown
    assert "P2" in every and "same" in every
    assert "P2" not in render_markdown(diff) and "P2" in render_markdown(diff, show_all=True)
