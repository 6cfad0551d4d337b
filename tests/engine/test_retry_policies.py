"""Retry budgets, decorrelated jitter and presets in whole virtual runs, checked from the log."""

from __future__ import annotations

import json
from bisect import bisect_right
from pathlib import Path

import pytest

from dtq.cli import main
from tests.helpers import run_virtual, scenario

BUDGET_SCENARIO = """\
seed: 5
clock: virtual
workers: 8
retry:
  max_attempts: 4
  backoff: fixed
  base_delay: 100ms
  budget: {ratio: 0.1, min_per_s: 1, window: 1s}
task_types:
  pay: {duration: {dist: exponential, mean: 20ms}, failures: {network: 0.5}}
arrivals:
  - {task: pay, pattern: poisson, rate: 200, until: 5s}
"""


def _budget_log(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "budget.yaml"
    path.write_text(BUDGET_SCENARIO, encoding="utf-8")
    log = tmp_path / "budget.jsonl"
    assert main(["run", str(path), "--quiet", "--log", str(log)]) == 0
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def _count_in(times: list[float], start: float, end: float) -> int:
    """How many of the sorted `times` are in (start, end]."""
    return bisect_right(times, end) - bisect_right(times, start)


def test_the_budget_denies_exactly_when_retries_would_pass_the_ratio(tmp_path: Path) -> None:
    """Each retry granted fits 0.1 x first attempts + 1/s in its last second; each denial not.

    The log is read in order: a first attempt logged after a decision at the same instant
    was not there when the budget decided.
    """
    firsts: list[float] = []
    granted: list[float] = []
    denied = 0
    for event in _budget_log(tmp_path):
        name, t = event["event"], float(event["t"])  # type: ignore[arg-type]
        if name == "task_started" and event["attempt"] == 1:
            firsts.append(t)
            continue
        allowed = 0.1 * _count_in(firsts, t - 1.0, t) + 1.0
        if name == "task_failed" and event["will_retry"]:
            assert _count_in(granted, t - 1.0, t) + 1 <= allowed + 1e-9
            granted.append(t)
        elif name == "task_dead_lettered" and event["reason"] == "budget":
            assert _count_in(granted, t - 1.0, t) + 1 > allowed + 1e-9
            denied += 1
    assert granted and denied > 100


def test_a_budget_run_verifies_and_reports_budget_dead_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify accepts reason budget; report and the final dashboard frame show it."""
    _budget_log(tmp_path)
    log = str(tmp_path / "budget.jsonl")
    capsys.readouterr()
    assert main(["verify", log]) == 0
    capsys.readouterr()
    assert main(["report", log, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dlq"]["by_reason"]["budget"] > 100
    assert main(["replay", log, "--final", "--plain"]) == 0
    assert "budget" in capsys.readouterr().out


def test_decorrelated_jitter_delays_stay_in_bounds_and_repeat() -> None:
    """Every retry waits between base_delay and max_delay; a second run is identical."""
    model = scenario(
        retry={
            "max_attempts": 6,
            "base_delay": "10ms",
            "max_delay": "200ms",
            "jitter": "decorrelated",
        },
        task_types={"job": {"failures": {"network": 0.7}}},
        arrivals=[{"pattern": "burst", "task": "job", "count": 200}],
    )
    status, events, _ = run_virtual(model)
    assert status == "completed"
    waits = [
        e["retry_at"] - e["t"] for e in events if e["event"] == "task_failed" and e["will_retry"]
    ]
    assert len(waits) > 100
    assert all(0.01 - 1e-6 <= w <= 0.2 + 1e-6 for w in waits)
    assert max(waits) > 0.1, "later retries reach well past 3 x base"
    assert run_virtual(model)[1] == events


def test_a_sidekiq_preset_run_spreads_retries_over_days_and_verifies(tmp_path: Path) -> None:
    """preset: sidekiq on the virtual clock: 26 attempts at most, the last retry days later."""
    model = scenario(
        retry={"preset": "sidekiq"},
        task_types={"job": {"failures": {"network": 0.9}}},
        arrivals=[{"pattern": "burst", "task": "job", "count": 50}],
    )
    status, events, totals = run_virtual(model)
    assert status == "completed"
    assert max(e.get("attempt", 0) for e in events) <= 26
    assert events[-1]["t"] > 5 * 86400
    exhausted = [e for e in events if e["event"] == "task_dead_lettered"]
    assert all(e["attempts"] == 26 and e["reason"] == "exhausted" for e in exhausted)
    assert totals["submitted"] == 50
