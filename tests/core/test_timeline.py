"""The fault timeline, the crash rule and the closing of open outages."""

from __future__ import annotations

from typing import Any

from dtq.core.plan import (
    ConstantDuration,
    CrashFault,
    OutageWindow,
    Plan,
    RetryPolicy,
    TaskKind,
)
from dtq.core.scheduler import Scheduler
from dtq.core.task import Task
from dtq.core.timeline import (
    apply_fault_edge,
    crash_victims,
    end_open_outages,
    fault_timeline,
)


def _plan(outages: tuple[OutageWindow, ...] = (), crashes: tuple[CrashFault, ...] = ()) -> Plan:
    kind = TaskKind(0, "job", 5, ConstantDuration(1.0), None, ())
    retry = RetryPolicy(3, "none", 0.0, 0.0, "none", None)
    return Plan(1, 3, "priority", 0.0, retry, {"job": kind}, (), outages, crashes)


def _outage(index: int, start: float, until: float) -> OutageWindow:
    return OutageWindow(index, start, until, "network", 0.5, None)


def test_edges_sort_by_time_then_by_the_faults_order_in_the_file() -> None:
    """At 2s: outage 0 ends, outage 1 starts, the crash (third in the file) strikes."""
    crash = CrashFault(2, 2.0, 1, None)
    plan = _plan((_outage(0, 1.0, 2.0), _outage(1, 2.0, 3.0)), (crash,))
    edges = [
        (e.t, e.outage.index if e.outage else e.crash.index if e.crash else None, e.starts)
        for e in fault_timeline(plan)
    ]
    assert edges == [
        (1.0, 0, True),
        (2.0, 0, False),
        (2.0, 1, True),
        (2.0, 2, True),
        (3.0, 1, False),
    ]


def test_a_later_outage_ending_at_an_earlier_ones_start_comes_after_it() -> None:
    """Ties go by file order, whether the edge is a start or an end."""
    plan = _plan((_outage(0, 2.0, 4.0), _outage(1, 1.0, 2.0)))
    at_two = [(e.outage.index, e.starts) for e in fault_timeline(plan) if e.t == 2.0 and e.outage]
    assert at_two == [(0, True), (1, False)]


def test_a_crash_kills_busy_workers_first_then_idle_ones_in_their_order() -> None:
    """The one rule both backends use."""
    workers = [("w1", False), ("w2", True), ("w3", False), ("w4", True)]
    assert crash_victims(workers, 1) == ["w2"]
    assert crash_victims(workers, 3) == ["w2", "w4", "w1"]
    assert crash_victims(workers, 10) == ["w2", "w4", "w1", "w3"]


def test_a_crash_edge_fails_the_victims_attempts_and_logs_the_fault() -> None:
    """fault_started, the busy worker's crash and failed attempt, fault_ended."""
    events: list[dict[str, Any]] = []
    crash = CrashFault(0, 1.0, 1, 5.0)
    plan = _plan(crashes=(crash,))
    sched = Scheduler(plan, events.append, workers=3)
    sched.submit(Task("job-000001", plan.kinds["job"], 1), 0.0)
    assert sched.start_next(2, 0.0) is not None
    (edge,) = fault_timeline(plan)
    assert apply_fault_edge(sched, edge, 1.0) == [2]
    names = [e["event"] for e in events[2:]]
    assert names == ["fault_started", "worker_crashed", "task_failed", "fault_ended"]
    assert events[-2]["message"] == "worker killed by fault 0 (worker_crash)"
    assert sched.down == [False, False, True]


def test_outages_still_open_at_the_end_close_in_timeline_order() -> None:
    """The later window's end comes later, whatever order they started in."""
    events: list[dict[str, Any]] = []
    late, early = _outage(0, 0.0, 9.0), _outage(1, 1.0, 5.0)
    sched = Scheduler(_plan((late, early)), events.append, workers=1)
    sched.outage_started(late, 0.0)
    sched.outage_started(early, 1.0)
    end_open_outages(sched, 2.0)
    assert [(e["event"], e["fault"]) for e in events[-2:]] == [
        ("fault_ended", 1),
        ("fault_ended", 0),
    ]
    assert sched.active_outages() == ()
