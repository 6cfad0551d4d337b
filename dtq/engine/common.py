"""Small pieces both engines share."""

from __future__ import annotations

import threading

from dtq.core.scheduler import Scheduler


def stall_message(sched: Scheduler) -> str:
    """Why a run with ready work and no live worker cannot go on."""
    return (
        f"every worker is down and none will restart, so {len(sched.ready)} ready tasks can "
        "never run; give the worker_crash faults a restart_after or crash fewer workers"
    )


class EngineBase:
    """Stop requests and the failure that ended a run: what every engine keeps alike."""

    def __init__(self) -> None:
        self._stop_requests = 0
        self._failure: BaseException | None = None

    def request_stop(self) -> None:
        """Ask the run to stop (safe from a signal handler: takes no lock)."""
        self._stop_requests += 1

    @property
    def failure(self) -> BaseException | None:
        """The exception that stopped the run, if it failed."""
        return self._failure


class SchedulerEngine(EngineBase):
    """An engine whose state is a local `Scheduler` guarded by one lock."""

    def __init__(self, sched: Scheduler) -> None:
        super().__init__()
        self.sched = sched
        self._lock = threading.Lock()

    @property
    def lock(self) -> threading.Lock:
        """The lock that serialises changes to the scheduler and the sink."""
        return self._lock

    def totals(self) -> dict[str, int]:
        """The scheduler's counters, as `run_finished` reports them."""
        return self.sched.totals()

    def stop_workers(self, now: float) -> None:
        """Log every worker leaving the pool (the caller holds the lock)."""
        for worker in range(len(self.sched.names)):
            self.sched.worker_stopped(worker, now)
