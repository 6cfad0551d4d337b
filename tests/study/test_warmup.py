"""`warmup:` keeps early tasks out of the wait and end-to-end statistics, and in the totals."""

from __future__ import annotations

from pathlib import Path

from dtq.compare.baseline import simulate_scenario
from dtq.scenario import load_scenario
from dtq.scenario.overrides import parse_overrides

SCENARIO = """\
name: warm
seed: 5
clock: virtual
workers: 1
task_types:
  job: {priority: 3, duration: {dist: constant, value: 10ms}}
arrivals:
  - {pattern: burst, task: job, count: 50, at: 0s}
  - {pattern: constant, task: job, rate: 10, from: 2s, until: 4s}
"""


def test_tasks_submitted_before_warmup_count_but_do_not_wait(tmp_path: Path) -> None:
    path = tmp_path / "warm.yaml"
    path.write_text(SCENARIO)
    cold = simulate_scenario(load_scenario(path))
    warm = simulate_scenario(load_scenario(path, overrides=parse_overrides(["warmup=1s"])))
    assert warm.totals() == cold.totals()
    assert cold.wait_stats(3).count == 70
    # The burst at 0s queues behind one worker (waits up to 0.49s); the later steady
    # arrivals find it idle.
    assert cold.wait_stats(3).max > 0.4
    assert warm.wait_stats(3).count == 20
    assert warm.wait_stats(3).max == 0.0
    assert warm.wait_stats("job").count == 20
    # End-to-end times (submission to success) leave the warm-up's tasks out too.
    assert len(cold.end_to_end_by_priority[3]) == 70
    assert len(warm.end_to_end_by_priority[3]) == 20


def test_a_scenario_without_warmup_logs_no_warmup_key(tmp_path: Path) -> None:
    path = tmp_path / "warm.yaml"
    path.write_text(SCENARIO)
    assert "warmup" not in load_scenario(path).resolved()
    resolved = load_scenario(path, overrides=parse_overrides(["warmup=30s"])).resolved()
    assert resolved["warmup"] == 30.0
