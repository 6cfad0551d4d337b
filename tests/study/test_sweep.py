"""`dtq sweep` end to end: the table, its formats, logs, failures and exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from dtq.fold.state import RunState
from dtq.log.reader import iter_events
from dtq.log.verify import verify_log
from dtq.scenario import load_scenario
from dtq.study.execute import Job, run_job
from dtq.study.measure import measure
from tests.study.conftest import dtq

GRID = ["--set", "workers=2,4", "--set", "retry.max_attempts=2,4"]


def _json(small: Path, *extra: str) -> dict[str, object]:
    result = dtq("sweep", str(small), *GRID, "--seeds", "3", "--format", "json", "--quiet", *extra)
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.slow
def test_the_table_is_the_same_on_one_process_and_on_two(small: Path) -> None:
    one = _json(small, "--jobs", "1")
    two = _json(small, "--jobs", "2")
    assert one == two
    points = one["points"]
    assert isinstance(points, list) and len(points) == 4
    assert points[0]["coords"] == {"workers": "2", "retry.max_attempts": "2"}
    assert one["interval"] == "student-t" and one["confidence"] == 0.95


def test_every_metric_has_a_mean_and_an_interval(small: Path) -> None:
    data = _json(small, "--jobs", "1")
    names = data["metrics"]
    assert isinstance(names, list)
    for name in (
        "completed_pct",
        "dlq",
        "wait_p95.P1",
        "wait_p95.P4",
        "e2e_p95_s",
        "attempts_per_task",
        "peak_backlog",
        "recover_s",
    ):
        assert name in names
    point = data["points"][0]  # type: ignore[index]
    completed = point["metrics"]["completed_pct"]
    assert completed["n"] == 3
    assert completed["low"] <= completed["mean"] <= completed["high"]
    assert any(name.startswith("dlq.") for name in names)


def test_the_numbers_are_those_of_the_same_run_s_saved_log(small: Path, tmp_path: Path) -> None:
    """Without --out the events go straight to the reducer; with it, the log folds the same."""
    scenario = load_scenario(small).with_overrides(workers=2)
    log = tmp_path / "one.jsonl"
    direct = run_job(Job(0, 7, scenario))
    saved = run_job(Job(0, 7, scenario, str(log)))
    assert direct.metrics is not None and direct.metrics == saved.metrics
    state = RunState().apply_all(event for _, event in iter_events(log))
    assert measure(state, scenario.model.expect) == direct.metrics


def test_out_keeps_every_run_s_log_named_by_its_coordinates(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "logs"
    result = dtq(
        "sweep",
        str(small),
        "--set",
        "workers=2,4",
        "--seeds",
        "2",
        "--quiet",
        "--jobs",
        "1",
        "--out",
        str(out),
    )
    assert result.returncode in (0, 1), result.stderr
    names = sorted(path.name for path in out.iterdir())
    assert names == [
        "small__workers=2__seed=1.jsonl",
        "small__workers=2__seed=2.jsonl",
        "small__workers=4__seed=1.jsonl",
        "small__workers=4__seed=2.jsonl",
    ]
    assert verify_log(out / names[0]).is_valid


def test_without_out_no_log_is_written(small: Path, tmp_path: Path) -> None:
    result = dtq("sweep", str(small), "--seeds", "2", "--quiet", "--jobs", "1", cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["small.yaml"]


def test_a_sweep_without_set_is_replications(small: Path) -> None:
    result = dtq("sweep", str(small), "--seeds", "4", "--quiet", "--jobs", "1", "--format", "json")
    data = json.loads(result.stdout)
    assert data["axes"] == [] and len(data["points"]) == 1
    assert data["points"][0]["seeds_run"] == 4


@pytest.mark.slow
def test_text_table_names_the_interval_and_lists_passing_points(small: Path) -> None:
    result = dtq("sweep", str(small), *GRID, "--seeds", "3", "--quiet", "--jobs", "2")
    assert "95% confidence interval over 3 seeds (Student t, 2 degrees of freedom)" in (
        " ".join(result.stdout.split())
    )
    assert "passed expect: on every seed:" in result.stdout
    assert "retry.max_attempts" in result.stdout


@pytest.mark.slow
def test_exit_1_when_a_point_fails_its_expectations(small: Path) -> None:
    failing = dtq(
        "sweep", str(small), "--set", "expect.dlq_max=0", "--seeds", "2", "--quiet", "--jobs", "1"
    )
    assert failing.returncode == 1
    passing = dtq(
        "sweep",
        str(small),
        "--set",
        "expect.dlq_max=100000",
        "--seeds",
        "2",
        "--quiet",
        "--jobs",
        "1",
    )
    assert passing.returncode == 0, passing.stdout + passing.stderr


def test_an_invalid_value_stops_the_sweep_before_anything_runs(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "logs"
    result = dtq("sweep", str(small), "--set", "workers=2,-1", "--seeds", "2", "--out", str(out))
    assert result.returncode == 2
    assert "--set workers=-1: must be at least" in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_a_point_failing_at_run_time_is_reported_and_the_others_go_on(small: Path) -> None:
    """Two workers crash for good: with 2 workers nothing is left to run the queue."""
    crash = "faults.0={kind: worker_crash, at: 1s, workers: 2}"
    result = dtq(
        "sweep",
        str(small),
        "--set",
        crash,
        "--set",
        "workers=2,4",
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--format",
        "json",
    )
    assert result.returncode == 1
    assert "workers=2 seed 1 failed:" in result.stderr
    data = json.loads(result.stdout)
    broken, healthy = data["points"]
    assert broken["coords"]["workers"] == "2" and len(broken["failures"]) == 2
    assert healthy["failures"] == [] and healthy["seeds_run"] == 2


@pytest.mark.slow
def test_csv_is_one_line_per_point_and_metric(small: Path) -> None:
    result = dtq("sweep", str(small), *GRID, "--seeds", "2", "--quiet", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert set(rows[0]) == {
        "point",
        "workers",
        "retry.max_attempts",
        "metric",
        "mean",
        "low",
        "high",
        "n",
        "never",
        "seeds",
        "seeds_passed",
    }
    keys = [(row["point"], row["metric"]) for row in rows]
    assert len(keys) == len(set(keys))
    assert {row["point"] for row in rows} == {"0", "1", "2", "3"}
    assert all(float(row["mean"]) >= 0 for row in rows if row["metric"] != "recover_s")


@pytest.mark.slow
def test_html_and_markdown_write_to_a_file(small: Path, tmp_path: Path) -> None:
    page = tmp_path / "sweep.html"
    result = dtq(
        "sweep", str(small), "--seeds", "2", "--quiet", "--format", "html", "-o", str(page)
    )
    assert result.returncode in (0, 1), result.stderr
    text = page.read_text()
    assert text.startswith("<!doctype html>") and "http" not in text
    result = dtq("sweep", str(small), "--seeds", "2", "--quiet", "--format", "markdown")
    assert "| completed |" in result.stdout
