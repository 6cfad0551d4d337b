"""One run's sweep metrics: backlog, end-to-end time and the time to recover after faults."""

from __future__ import annotations

from typing import Any

import pytest

from dtq.study.measure import SAMPLE_S, Timeline

Event = dict[str, Any]


def _events(backlog_by_t: list[tuple[float, int]], *, fault: tuple[float, float]) -> list[Event]:
    """Events that put the backlog at each level at each time, with one outage window."""
    events: list[Event] = [{"t": 0.0, "event": "run_started", "scenario": {}}]
    level, number = 0, 0
    edges = [(fault[0], "fault_started"), (fault[1], "fault_ended")]
    for t, target in backlog_by_t:
        while edges and edges[0][0] <= t:
            edge_t, name = edges.pop(0)
            events.append({"t": edge_t, "event": name, "fault": 0})
        while level < target:
            number += 1
            events.append({"t": t, "event": "task_submitted", "task_id": f"j-{number}"})
            level += 1
        while level > target:
            events.append({"t": t, "event": "task_started", "task_id": "x"})
            level -= 1
    return events


def _timeline(events: list[Event]) -> Timeline:
    timeline = Timeline()
    timeline.apply_all(events[:3])  # batches split anywhere fold the same
    timeline.apply_all(events[3:])
    return timeline


def test_recovery_is_when_the_backlog_is_back_to_its_pre_fault_level_for_good() -> None:
    # Pre-fault backlog peaks at 2; the outage (1s-2s) builds 30; it drains by 2.55s.
    levels = [(0.05, 1), (0.5, 2), (0.9, 0), (1.5, 30), (2.2, 10), (2.55, 1), (3.0, 2), (4.0, 0)]
    timeline = _timeline(_events(levels, fault=(1.0, 2.0)))
    recover_s, recovered = timeline.recovery()
    assert recovered is True
    # The first sample at or under 2 ends the interval [2.5, 2.6): 2.6s, 0.6s after the end.
    assert recover_s == pytest.approx(0.6, abs=SAMPLE_S / 2)
    assert timeline.peak_backlog == 30


def test_a_backlog_that_settles_only_after_the_load_stops_never_recovered() -> None:
    levels = [(0.5, 1), (1.5, 20), (2.5, 25), (3.5, 30), (3.9, 31), (5.0, 0)]
    timeline = _timeline(_events(levels, fault=(1.0, 2.0)))
    # The last arrival is at 3.9s; the backlog is over its pre-fault level until then.
    assert timeline.recovery() == (None, False)


def test_a_run_without_faults_has_no_recovery_time() -> None:
    timeline = _timeline(_events([(0.5, 3), (1.0, 0)], fault=(9.0, 9.5))[:-1])
    assert timeline.first_fault_t is None
    assert timeline.recovery() == (None, None)


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
