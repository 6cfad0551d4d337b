"""One run's sweep metrics, all from the reducer: backlog, end-to-end time, time to recover."""

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
from dtq.study.measure import recovery
from tests.helpers import SCENARIOS_DIR, run_virtual

Event = dict[str, Any]
_TASK = {"type": "job", "priority": 1}


def _submitted(t: float, number: int) -> Event:
    return {"t": t, "seq": 0, "event": "task_submitted", "task_id": f"j-{number}", **_TASK}


def _started(t: float, number: int) -> Event:
    return {
        "t": t,
        "seq": 0,
        "event": "task_started",
        "task_id": f"j-{number}",
        "attempt": 1,
        "worker": "w1",
        "wait_s": t,
        **_TASK,
    }


def _ended(t: float, number: int, **fields: Any) -> Event:
    name = "task_failed" if "will_retry" in fields else "task_succeeded"
    task = {"task_id": f"j-{number}", "attempt": 1, "worker": "w1", "run_s": 0.1}
    return {"t": t, "seq": 0, "event": name, **task, **_TASK, **fields}


def test_peak_backlog_counts_ready_tasks_and_retries_in_backoff() -> None:
    events: list[Event] = [{"t": 0.0, "seq": 0, "event": "run_started", "scenario": {}}]
    events += [_submitted(0.1, n) for n in range(3)]
    events += [
        _started(0.2, 0),
        _ended(0.3, 0, error="network", will_retry=True),
        _started(0.4, 1),
        _ended(0.5, 1, error="network", will_retry=False),
    ]
    state = RunState().apply_all(events[:3])  # batches split anywhere fold the same
    state.apply_all(events[3:])
    assert (state.peak_backlog, state.backlog) == (3, 2)
    assert state.backlog == state.queued + state.retrying


def test_an_expired_task_leaves_the_backlog_without_starting() -> None:
    expired = {
        "t": 0.9,
        "seq": 0,
        "event": "task_dead_lettered",
        "task_id": "j-0",
        "reason": "expired",
        "attempts": 0,
        "last_error": "expired",
        **_TASK,
    }
    state = RunState().apply_all(
        [
            {"t": 0.0, "seq": 0, "event": "run_started", "scenario": {}},
            _submitted(0.1, 0),
            _submitted(0.2, 1),
            expired,
            _submitted(1.0, 2),
        ]
    )
    assert (state.peak_backlog, state.backlog) == (2, 2)


def test_end_to_end_time_is_submission_to_success_after_warmup() -> None:
    state = RunState().apply_all(
        [
            {"t": 0.0, "seq": 0, "event": "run_started", "scenario": {"warmup": 1.0}},
            _submitted(0.5, 0),
            _submitted(1.5, 1),
            _ended(2.0, 0),
            _ended(2.25, 1),
        ]
    )
    assert list(state.end_to_end_by_priority[1]) == [0.75]


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
