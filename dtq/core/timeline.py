"""The fault timeline and the crash policy, shared by every engine.

`fault_timeline` lists every fault edge in the order the agenda carries out edges that
fall at the same instant: by time, then by the fault's place in the file (an edge's
`order` is twice that place, plus one for a start: one outage's own end and start never
fall at one instant, since a window is never empty). `crash_victims` is
the one rule for which workers a crash fault kills, used by the memory scheduler and
by the Redis coordinator alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from dtq.core.plan import CrashFault, DependencyFault, OutageWindow, Plan
from dtq.core.scheduler import Scheduler

W = TypeVar("W")


@dataclass(frozen=True, slots=True)
class FaultEdge:
    """One moment at which a fault starts or ends."""

    t: float
    order: int
    outage: OutageWindow | None = None
    starts: bool = True
    crash: CrashFault | None = None
    dependency_fault: DependencyFault | None = None


def fault_timeline(plan: Plan) -> list[FaultEdge]:
    """Every fault edge of the plan, in time order (ties: the faults' order in the file)."""
    edges: list[FaultEdge] = []
    for outage in plan.outages:
        edges.append(FaultEdge(outage.start_s, 2 * outage.index + 1, outage=outage))
        edges.append(FaultEdge(outage.until_s, 2 * outage.index, outage=outage, starts=False))
    for crash in plan.crashes:
        edges.append(FaultEdge(crash.at_s, 2 * crash.index + 1, crash=crash))
    for fault in plan.dependency_faults:
        edges.append(FaultEdge(fault.start_s, 2 * fault.index + 1, dependency_fault=fault))
        edges.append(
            FaultEdge(fault.until_s, 2 * fault.index, starts=False, dependency_fault=fault)
        )
    edges.sort(key=lambda e: (e.t, e.order))
    return edges


def crash_victims(workers: Sequence[tuple[W, bool]], count: int) -> list[W]:
    """The `count` workers a crash fault kills, of live (worker, busy) pairs in their order:
    busy ones first (a crash is meant to cost work in flight), then idle ones."""
    busy = [worker for worker, is_busy in workers if is_busy]
    idle = [worker for worker, is_busy in workers if not is_busy]
    return (busy + idle)[:count]


def crash_message(crash: CrashFault) -> str:
    """The message of an attempt a crash fault cut short."""
    return f"worker killed by fault {crash.index} (worker_crash)"


def apply_fault_edge(sched: Scheduler, edge: FaultEdge, now: float) -> list[int]:
    """Carry out one edge; returns the workers a crash fault killed (to restart later)."""
    if edge.outage is not None:
        if edge.starts:
            sched.outage_started(edge.outage, now)
        else:
            sched.outage_ended(edge.outage, now)
        return []
    if edge.dependency_fault is not None:
        assert sched.steps is not None
        sched.steps.fault_edge(edge.dependency_fault, edge.starts, now)
        return []
    crash = edge.crash
    assert crash is not None
    sched.crash_fault(crash.index, crash.workers, crash.restart_after_s, now)
    victims = crash_victims(sched.live_workers(), crash.workers)
    for worker in victims:
        sched.crash_worker(worker, now, crash_message(crash))
    # The crash itself is instantaneous; restarts are actions of their own.
    sched.crash_fault_ended(crash.index, now)
    return victims


def end_open_outages(sched: Scheduler, now: float) -> None:
    """At the end of a run, close the outage windows still open, in the timeline's order."""
    for outage in sorted(sched.active_outages(), key=lambda o: (o.until_s, o.index)):
        sched.outage_ended(outage, now)
    if sched.steps is not None:
        sched.steps.end_open_faults(now)
