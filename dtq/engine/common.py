"""Small pieces both engines share."""

from __future__ import annotations

from dtq.core.scheduler import Scheduler


def stall_message(sched: Scheduler) -> str:
    """Why a run with ready work and no live worker cannot go on."""
    return (
        f"every worker is down and none will restart, so {len(sched.ready)} ready tasks can "
        "never run; give the worker_crash faults a restart_after or crash fewer workers"
    )
