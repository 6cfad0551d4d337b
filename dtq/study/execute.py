"""Where a sweep's runs execute: this process, local worker processes, or a Dask cluster.

Each run is one `Job` handed to `run_job`, a plain function that any of the three can
call: a `concurrent.futures` executor (local processes, or the Dask client's executor)
runs them, a few in flight per worker, and results stream back as they finish.

Without `--out` a run writes no log: its events go straight from the engine to the
reducer (`RunState.apply_all`), with no JSON rendered or parsed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from typing import Any

from dtq.engine import runner
from dtq.events import STATUS_COMPLETED, STATUS_INTERRUPTED
from dtq.fold.state import RunState
from dtq.scenario import LoadedScenario
from dtq.study.measure import RunMetrics, measure

IN_FLIGHT_PER_WORKER = 2
"""Runs queued per worker: enough to keep it busy, few enough to stop quickly."""
_POLL_S = 0.2
_DRAIN_S = 30.0
_START_S = 60.0
_START_POLL_S = 0.01


@dataclass(frozen=True)
class Job:
    """One run of a sweep: a point's scenario with one seed, and where to keep its log."""

    point: int
    seed: int
    scenario: LoadedScenario
    log_path: str | None = None


@dataclass(frozen=True)
class JobResult:
    """What a run gave back: its numbers, or the error that stopped it."""

    point: int
    seed: int
    metrics: RunMetrics | None
    error: str | None = None
    interrupted: bool = False
    wall_s: float = 0.0


def run_job(job: Job) -> JobResult:
    """Run one point with one seed on the virtual clock; never raises for a failed run."""
    started = time.perf_counter()
    try:
        scenario = job.scenario.with_overrides(seed=job.seed)
        state = RunState()
        log_path = Path(job.log_path) if job.log_path is not None else Path(os.devnull)
        outcome = runner.run(
            scenario,
            log_path=log_path,
            observers=[state.apply_all],
            write_log=job.log_path is not None,
        )
    except Exception as exc:  # a point that cannot run is reported; the others go on
        return JobResult(job.point, job.seed, None, runner.describe(exc))
    wall_s = time.perf_counter() - started
    if outcome.status != STATUS_COMPLETED:
        detail = f": {outcome.error}" if outcome.error else ""
        interrupted = outcome.status == STATUS_INTERRUPTED
        error = f"the run ended {outcome.status}{detail}"
        return JobResult(job.point, job.seed, None, error, interrupted, wall_s)
    metrics = measure(state, scenario.model.expect)
    return JobResult(job.point, job.seed, metrics, wall_s=wall_s)


class InProcess(Executor):
    """`--jobs 1`: each run in this process, when its result is asked for."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run `fn` now and return its finished future."""
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _started() -> None:
    """A no-op: one per worker, submitted at once, so that the pool starts them all now."""


def _worker_started(pids: SimpleQueue[int]) -> None:
    """Each worker's initializer: SIGTERM ends it (a forked worker would inherit this
    process's handler, which only asks a sweep to stop), and its pid goes to the pool
    before it takes any run."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    pids.put(os.getpid())


def start_method() -> str:
    """`fork` where it is safe, else `spawn`; decided when a pool starts.

    A spawned worker imports dtq afresh, about a second of CPU (pydantic builds the
    scenario models; structlog and rich load), which was most of what a sweep added to
    its points. A forked one starts with this process's modules already imported. Fork
    is safe only while this process runs no other thread (a lock another thread holds
    would stay held in the child forever), and only on Linux (macOS system frameworks
    are not fork-safe), so anywhere else the workers are spawned.
    """
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


class LocalPool(ProcessPoolExecutor):
    """Worker processes that can be stopped, forked or spawned (`start_method`).

    A stop must reach the workers' runs at once, and the executor has no public way to
    signal its processes: each worker's initializer therefore sends its pid up a pipe
    before it takes its first run, and `interrupt` signals every pid that came up.
    A worker that has not sent its pid yet has no run to stop.
    """

    def __init__(self, jobs: int, *, method: str | None = None) -> None:
        context = multiprocessing.get_context(method or start_method())
        self.method = context.get_start_method()
        self._pid_pipe: SimpleQueue[int] = context.SimpleQueue()
        self._pids: set[int] = set()
        super().__init__(
            max_workers=jobs,
            mp_context=context,
            initializer=_worker_started,
            initargs=(self._pid_pipe,),
        )

    def worker_pids(self) -> frozenset[int]:
        """The pids of the workers started so far."""
        while not self._pid_pipe.empty():
            self._pids.add(self._pid_pipe.get())
        return frozenset(self._pids)

    def wait_for_workers(self, count: int, *, timeout_s: float) -> bool:
        """Wait until `count` workers have started (or `timeout_s` passed); True if they did."""
        deadline = time.monotonic() + timeout_s
        while len(self.worker_pids()) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(_START_POLL_S)
        return True

    def interrupt(self) -> None:
        """Send SIGINT to every worker: the runner in each ends its run at once."""
        for pid in sorted(self.worker_pids()):
            with contextlib.suppress(ProcessLookupError):  # it just ended
                os.kill(pid, signal.SIGINT)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the pool down, then close the pipe the pids came up."""
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait:
            self._pid_pipe.close()


def local_pool(jobs: int, *, method: str | None = None) -> LocalPool:
    """`jobs` worker processes, all started (`method`: fork or spawn, else `start_method`).

    The workers are started with SIGINT ignored, which a child inherits from its first
    instruction on: a Ctrl-C at the terminal reaches every process of the group, and a
    worker still importing or between runs must leave it to the parent. During a run the
    runner's own handler takes it and ends the run at once as interrupted.
    """
    # A forked child would write again whatever this process still holds in a buffer.
    sys.stdout.flush()
    sys.stderr.flush()
    pool = LocalPool(jobs, method=method)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # Forked, the first submit starts them all; spawned, each submit while no worker
        # is idle starts one more (up to `jobs`).
        started = [pool.submit(_started) for _ in range(jobs)]
    finally:
        signal.signal(signal.SIGINT, previous)
    wait(started)
    # Every worker up before the first run. One that never came up broke the pool, and
    # each run says so: no need to wait for it.
    if not any(future.exception() for future in started):
        pool.wait_for_workers(jobs, timeout_s=_START_S)
    return pool


def interrupt_workers(executor: Executor) -> None:
    """Pass a stop on to local worker processes, which end their current run at once."""
    if isinstance(executor, LocalPool):
        executor.interrupt()


def stream(
    executor: Executor,
    jobs: Iterator[Job],
    *,
    in_flight: int,
    should_stop: Callable[[], bool],
) -> Iterator[JobResult]:
    """Submit jobs, at most `in_flight` at a time, and yield results as they finish.

    Once `should_stop()` says so, nothing more is submitted, queued runs are cancelled,
    running ones are told to stop, and their results (if any come) are still yielded.
    """
    pending: dict[Future[JobResult], Job] = {}
    exhausted = False
    while True:
        while not exhausted and len(pending) < in_flight and not should_stop():
            job = next(jobs, None)
            if job is None:
                exhausted = True
                continue
            try:
                pending[executor.submit(run_job, job)] = job
            except Exception as exc:  # a pool broken by a worker that died: say so per run
                yield JobResult(job.point, job.seed, None, f"not run: {runner.describe(exc)}")
        if not pending:
            return
        if should_stop():
            yield from _drain(executor, pending)
            return
        done, _ = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
        for future in done:
            yield _result(future, pending.pop(future))


def _drain(executor: Executor, pending: dict[Future[JobResult], Job]) -> Iterator[JobResult]:
    """Cancel what has not started, stop what runs, and collect what still finishes."""
    running = [future for future in pending if not future.cancel()]
    interrupt_workers(executor)
    done, _ = wait(running, timeout=_DRAIN_S)
    for future in done:
        yield _result(future, pending[future])


def _result(future: Future[JobResult], job: Job) -> JobResult:
    """The run's result, or its failure (a worker process that died, a lost cluster)."""
    try:
        return future.result()
    except Exception as exc:
        error = f"the worker running it failed: {runner.describe(exc)}"
        return JobResult(job.point, job.seed, None, error)
