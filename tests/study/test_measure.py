"""One run's sweep metrics: backlog, end-to-end time and the time to recover after faults."""

from __future__ import annotations

import math
from typing import Any

import pytest

from dtq.fold.metrics import recovery_s
from dtq.fold.state import RunState
from dtq.scenario import LoadedScenario
from dtq.scenario.loader import ScenarioSource
from dtq.study.execute import Job, run_job
from dtq.study.grid import build_points, parse_axis
from dtq.study.measure import Timeline, recovery
from tests.helpers import SCENARIOS_DIR, run_virtual

Event = dict[str, Any]


def _submitted(t: float, number: int) -> Event:
    return {"t": t, "event": "task_submitted", "task_id": f"j-{number}"}


def test_peak_backlog_counts_ready_tasks_and_retries_in_backoff() -> None:
    timeline = Timeline()
    events: list[Event] = [{"t": 0.0, "event": "run_started", "scenario": {}}]
    events += [_submitted(0.1, n) for n in range(3)]
    events += [
        {"t": 0.2, "event": "task_started", "task_id": "j-0"},
        {"t": 0.3, "event": "task_failed", "task_id": "j-0", "will_retry": True},
        {"t": 0.4, "event": "task_started", "task_id": "j-1"},
        {"t": 0.5, "event": "task_failed", "task_id": "j-1", "will_retry": False},
    ]
    timeline.apply_all(events[:3])  # batches split anywhere fold the same
    timeline.apply_all(events[3:])
    assert (timeline.peak_backlog, timeline.backlog) == (3, 2)


def test_an_expired_task_leaves_the_backlog_without_starting() -> None:
    timeline = Timeline()
    timeline.apply_all(
        [
            {"t": 0.0, "event": "run_started", "scenario": {}},
            _submitted(0.1, 0),
            _submitted(0.2, 1),
            {"t": 0.9, "event": "task_dead_lettered", "task_id": "j-0", "reason": "expired"},
            _submitted(1.0, 2),
        ]
    )
    assert (timeline.peak_backlog, timeline.backlog) == (2, 2)


def test_end_to_end_time_is_submission_to_success_after_warmup() -> None:
    timeline = Timeline()
    timeline.apply_all(
        [
            {"t": 0.0, "event": "run_started", "scenario": {"warmup": 1.0}},
            {"t": 0.5, "event": "task_submitted", "task_id": "early"},
            {"t": 1.5, "event": "task_submitted", "task_id": "late"},
            {"t": 2.0, "event": "task_succeeded", "task_id": "early"},
            {"t": 2.25, "event": "task_succeeded", "task_id": "late"},
        ]
    )
    assert timeline.e2e_s == [0.75]


def _metastable(until: str) -> LoadedScenario:
    """metastable.yaml with its trigger ending at `until`, as a sweep point builds it."""
    source = ScenarioSource.read(SCENARIOS_DIR / "metastable.yaml")
    (point,) = build_points(source, [parse_axis(f"faults.0.until={until}")], [7])
    return point.scenario


@pytest.mark.slow
@pytest.mark.parametrize(("until", "recovered"), [("11s", True), ("14s", False)])
def test_the_time_to_recover_is_the_reducer_s_one_definition(until: str, recovered: bool) -> None:
    """A sweep's recover_s is `dtq.fold.metrics.recovery_s`, as the report and expect: say."""
    scenario = _metastable(until)
    result = run_job(Job(0, 7, scenario))
    assert result.metrics is not None
    assert result.metrics.recovered is recovered
    state = RunState().apply_all(run_virtual(scenario.with_overrides(seed=7).model)[1])
    expected = recovery_s(state)
    assert expected is not None
    if recovered:
        assert result.metrics.recover_s == expected < 5.0
    else:
        assert math.isinf(expected) and result.metrics.recover_s is None


def test_no_fault_means_no_time_to_recover() -> None:
    assert recovery(RunState()) == (None, None)
