"""Fault windows and crashes as a sorted timeline of edges, shared by both engines."""

from __future__ import annotations

from dataclasses import dataclass

from dtq.core.plan import CrashFault, OutageWindow, Plan
from dtq.core.scheduler import Scheduler


@dataclass(frozen=True, slots=True)
class FaultEdge:
    """One moment at which a fault starts or ends."""

    t: float
    order: int
    outage: OutageWindow | None = None
    starts: bool = True
    crash: CrashFault | None = None


def fault_timeline(plan: Plan) -> list[FaultEdge]:
    """Every fault edge of the plan, in time order (ties: end before start, then file order)."""
    edges: list[FaultEdge] = []
    for outage in plan.outages:
        edges.append(FaultEdge(outage.start_s, 2 * outage.index + 1, outage=outage))
        edges.append(FaultEdge(outage.until_s, 2 * outage.index, outage=outage, starts=False))
    for crash in plan.crashes:
        edges.append(FaultEdge(crash.at_s, 2 * crash.index + 1, crash=crash))
    edges.sort(key=lambda e: (e.t, e.order))
    return edges


def apply_fault_edge(sched: Scheduler, edge: FaultEdge, now: float) -> list[int]:
    """Carry out one edge; returns the workers a crash fault killed (to restart later)."""
    if edge.outage is not None:
        if edge.starts:
            sched.outage_started(edge.outage, now)
        else:
            sched.outage_ended(edge.outage, now)
        return []
    crash = edge.crash
    assert crash is not None
    sched.crash_fault(crash.index, crash.workers, crash.restart_after_s, now)
    victims = sched.pick_crash_victims(crash.workers)
    for worker in victims:
        sched.crash_worker(worker, now, f"worker killed by fault {crash.index} (worker_crash)")
    # The crash itself is instantaneous; restarts are events of their own.
    sched.crash_fault_ended(crash.index, now)
    return victims


def end_open_outages(sched: Scheduler, edges: list[FaultEdge], done: int, now: float) -> None:
    """At the end of a run, close outage windows that started but had not ended."""
    for edge in edges[done:]:
        if edge.outage is not None and not edge.starts and edge.outage in sched.active_outages():
            sched.outage_ended(edge.outage, now)
