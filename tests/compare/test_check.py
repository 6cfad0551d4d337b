"""`dtq check`: baselines compared, written and reported; expectations; the CI step summary."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from dtq.cli import main
from dtq.compare.baseline import BaselineError, read_baseline
from dtq.render.check import SCENARIO_CHANGED
from tests.compare.conftest import SCENARIOS, write_tiny


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`dtq check ARGV` in-process: exit code, stdout, stderr."""
    code = main(["check", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def baselined(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *, attempts: int = 2
) -> tuple[Path, Path]:
    """A tiny scenario in `tmp_path` and its baseline, written by `dtq check --update`."""
    scenario = write_tiny(tmp_path, attempts=attempts)
    baselines = tmp_path / "baselines"
    assert check(capsys, str(scenario), "--baselines", str(baselines), "--update")[0] == 0
    return scenario, baselines


@pytest.fixture(autouse=True)
def no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run inside GitHub Actions too: no test appends to the real step summary."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def test_a_changed_copy_fails_until_its_baseline_is_updated(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, burst8: Path
) -> None:
    original = tmp_path / "original"
    assert (
        check(capsys, str(SCENARIOS / "burst.yaml"), "--baselines", str(original), "--update")[0]
        == 0
    )
    baselines = tmp_path / "baselines"
    baselines.mkdir()
    shutil.copy(original / "burst.json", baselines / "burst_retry8.json")

    code, out, _ = check(capsys, str(burst8), "--baselines", str(baselines))
    assert code == 1
    assert out.startswith("✗ burst_retry8: submitted 9980")
    assert "only in the baseline: " in out
    assert "retry.max_attempts: 4 -> 8" in out
    command = (
        f"dtq check {shlex.quote(str(burst8))} --baselines {shlex.quote(str(baselines))} --update"
    )
    assert command in out

    code, out, _ = check(capsys, str(burst8), "--baselines", str(baselines), "--update")
    assert code == 0
    assert f"baseline written: {baselines / 'burst_retry8.json'}" in out
    code, out, _ = check(capsys, str(burst8), "--baselines", str(baselines))
    assert code == 0
    assert out.startswith("✓ burst_retry8:") and "DLQ changes 0" in out


def test_a_missing_baseline_fails_and_says_the_command_that_writes_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = write_tiny(tmp_path)
    baselines = tmp_path / "baselines"
    code, out, _ = check(capsys, str(scenario), "--baselines", str(baselines))
    assert code == 1
    assert f"no baseline {baselines / 'tiny.json'}" in out
    assert f"dtq check {scenario} --baselines {baselines} --update" in out
    assert not baselines.exists()


def test_update_writes_a_small_sorted_baseline_identical_on_a_second_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = write_tiny(tmp_path)
    baselines = tmp_path / "baselines"
    assert check(capsys, str(scenario), "--baselines", str(baselines), "--update")[0] == 0
    path = baselines / "tiny.json"
    first = path.read_bytes()
    assert check(capsys, str(scenario), "--baselines", str(baselines), "--update")[0] == 0
    assert path.read_bytes() == first
    data = json.loads(first)
    assert first.endswith(b"}\n")
    assert first.decode() == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert data["format"] == 1 and data["clock"] == "virtual" and data["scenario"] == "tiny"
    ids = [entry["task_id"] for entry in data["dlq"]]
    assert ids and ids == sorted(ids)
    assert set(data["dlq"][0]) == {
        "task_id",
        "type",
        "priority",
        "reason",
        "attempts",
        "last_error",
    }
    assert data["totals"]["dead_lettered"] == len(ids)
    assert data["expectations"] == [
        {"name": "dlq_max", "observed": str(len(ids)), "limit": "<= 1000", "passed": True}
    ]


def test_a_changed_scenario_with_the_same_dlq_passes_with_a_note(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario, baselines = baselined(capsys, tmp_path)
    scenario.write_text(scenario.read_text() + "# a comment changes the file, not the run\n")
    code, out, _ = check(capsys, str(scenario), "--baselines", str(baselines))
    assert code == 0
    assert f"note: {SCENARIO_CHANGED}" in out


def test_a_changed_dlq_fails_and_points_to_the_diff(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario, baselines = baselined(capsys, tmp_path, attempts=2)
    write_tiny(tmp_path, attempts=3)
    code, out, _ = check(capsys, str(scenario), "--baselines", str(baselines))
    assert code == 1
    assert "DLQ differs from" in out
    assert f"dtq diff {baselines / 'tiny.json'} {scenario}" in out


def test_totals_that_move_under_an_unchanged_scenario_fail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario, baselines = baselined(capsys, tmp_path)
    path = baselines / "tiny.json"
    data = json.loads(path.read_text())
    data["totals"]["retried"] += 1
    path.write_text(json.dumps(data))
    code, out, _ = check(capsys, str(scenario), "--baselines", str(baselines))
    assert code == 1
    assert "totals differ from the baseline although the scenario did not change: retried" in out


def test_a_failed_expectation_fails_even_when_updating(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = write_tiny(tmp_path, dlq_max=0)
    baselines = tmp_path / "baselines"
    code, out, _ = check(capsys, str(scenario), "--baselines", str(baselines), "--update")
    assert code == 1
    assert "✗ dlq_max" in out and "(limit <= 0)" in out
    assert (baselines / "tiny.json").is_file()
    assert json.loads((baselines / "tiny.json").read_text())["expectations"][0]["passed"] is False


def test_a_bad_scenario_is_exit_2_and_the_others_are_still_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = write_tiny(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nworkers: 0\n")
    code, out, _ = check(capsys, str(bad), str(good), "--baselines", str(tmp_path), "--update")
    assert code == 2
    assert f"✗ {bad}: cannot check:" in out
    assert "workers: must be at least 1 (got 0)" in out
    assert "✓ tiny:" in out
    assert "Traceback" not in out


def test_two_scenarios_with_one_name_cannot_share_a_baseline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first = write_tiny(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    second = write_tiny(other)
    code, out, _ = check(capsys, str(first), str(second), "--baselines", str(tmp_path / "b"))
    assert code == 2
    assert "are both named 'tiny'" in out


def test_a_corrupt_baseline_is_named_and_update_repairs_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = write_tiny(tmp_path)
    baselines = tmp_path / "baselines"
    baselines.mkdir()
    (baselines / "tiny.json").write_text('{"format": 1,\n "dlq": [}\n')
    code, out, _ = check(capsys, str(scenario), "--baselines", str(baselines))
    assert code == 2
    assert f"{baselines / 'tiny.json'}:2: not JSON" in out
    assert check(capsys, str(scenario), "--baselines", str(baselines), "--update")[0] == 0
    assert read_baseline(baselines / "tiny.json").scenario == "tiny"


def test_baselines_without_a_scenario_are_a_warning_not_a_failure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").mkdir()
    write_tiny(tmp_path / "scenarios")
    assert check(capsys, "--update")[0] == 0
    shutil.copy(tmp_path / "baselines" / "tiny.json", tmp_path / "baselines" / "gone.json")
    (tmp_path / "baselines" / "gone.json").write_text(
        (tmp_path / "baselines" / "tiny.json")
        .read_text()
        .replace("scenarios/tiny.yaml", "scenarios/gone.yaml")
    )
    code, out, _ = check(capsys)
    assert code == 0
    assert (
        "warning: baselines/gone.json has no scenario (scenarios/gone.yaml does not exist)" in out
    )
    assert "1 scenario: 1 passed, 0 failed" in out


def test_the_step_summary_is_appended_with_a_table_and_the_dlq_differences(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    scenario, baselines = baselined(capsys, tmp_path, attempts=2)
    write_tiny(tmp_path, attempts=4)
    code, _, _ = check(capsys, str(scenario), "--baselines", str(baselines))
    assert code == 1
    text = summary.read_text()
    assert text.startswith("# earlier step\n")
    assert text.count("## dtq check") == 2
    assert "| scenario | result |" in text and "| --- |" in text
    assert "| tiny | ✗ failed |" in text
    assert f"### ✗ tiny: DLQ differences from `{baselines / 'tiny.json'}`" in text
    assert "#### Only in the baseline (no longer dead-lettered)" in text


def test_markdown_format_prints_the_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = write_tiny(tmp_path)
    code, out, _ = check(
        capsys, str(scenario), "--baselines", str(tmp_path), "--format", "markdown"
    )
    assert code == 1
    assert out.startswith("## dtq check: 1 scenario: 0 passed, 1 failed")
    assert "no baseline: run `dtq check" in out


def test_an_unreadable_baseline_field_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"format": 1, "dlq": [{"task_id": 3}]}))
    with pytest.raises(BaselineError, match=r"x\.json: scenario: must be a str"):
        read_baseline(path)


def test_a_stop_during_a_check_ends_the_whole_command_with_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a scenario runs stops the check (exit 130), not just that scenario."""
    from dtq.engine import runner

    def stopped_at_once(*args: object, **kwargs: object) -> runner.RunEnd:
        stops = runner.StopRequests()
        stops.request()  # as if Ctrl-C came while the scenario was running
        return original(*args, stops=stops, **kwargs)  # type: ignore[arg-type]

    original = runner.run
    monkeypatch.setattr(runner, "run", stopped_at_once)
    code = main(["check", str(SCENARIOS / "fifo.yaml"), "--baselines", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 130
    assert "interrupted" in err
