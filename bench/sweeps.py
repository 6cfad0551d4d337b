"""Rows 9-11: `dtq sweep` on two cores, its per-point overhead, its memory as points grow.

Each measurement runs in a fresh interpreter (`python -m bench.sweeps --worker ...`):

- `jobs1` / `jobs2`: a sweep of 40 points (workers 4-13 x max_attempts 2-5, one seed
  each) through `dtq.study`, on one process or two worker processes, pool start
  included. Row 9 is the rate ratio.
- `bare` / `point` / `logged`: the same scenario run 10 times: `bare` calls the runner
  with only the reducer watching (the run itself); `point` runs the 10 as sweep points
  in one worker process (process start, scenario load and validation, the hand-off and
  the summary included); `logged` is `bare` writing the JSON log as `--out`
  does. Row 10 is point / bare - 1: what a sweep adds to each point, in wall time and
  in CPU time (this process and its ended workers), which load disturbs less.
- `mem40` / `mem160`: sweeps of 40 and 160 small points in this process; peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import Sample, worker_main

GRID = ["workers=4,5,6,7,8,9,10,11,12,13", "retry.max_attempts=2,3,4,5"]
RATE = 400.0

SCENARIO = """\
name: sweepbench
seed: 1
clock: virtual
workers: 6
retry: {{max_attempts: 4, backoff: exponential, base_delay: 50ms, max_delay: 1s,
        jitter: full, retry_on: [network]}}
task_types:
  job: {{priority: 2, duration: {{dist: exponential, mean: 10ms}}, failures: {{network: 0.02}}}}
arrivals:
  - {{pattern: poisson, task: job, rate: {rate}, from: 0s, until: {until}s}}
faults:
  - {{kind: outage, from: {fault_from}s, until: {fault_until}s, error: network, rate: 0.8}}
"""


def cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime


def scenario_path(tmp: Path, tasks: int) -> Path:
    """A scenario of about `tasks` tasks, with an outage in its middle third."""
    until = tasks / RATE
    text = SCENARIO.format(
        rate=RATE,
        until=f"{until:.3f}",
        fault_from=f"{until / 3:.3f}",
        fault_until=f"{until / 2:.3f}",
    )
    path = tmp / f"sweepbench-{tasks}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _sweep(path: Path, sets: list[str], *, jobs: int) -> tuple[float, float, int]:
    """Wall and CPU seconds of a whole sweep (pool start included) and its points."""
    from dtq.study.execute import IN_FLIGHT_PER_WORKER, InProcess, local_pool
    from dtq.study.sweep import plan_sweep, run_sweep

    plan = plan_sweep(path, sets, seeds="1")
    started, cpu0 = time.perf_counter(), cpu_s()
    executor = InProcess() if jobs == 1 else local_pool(jobs)
    try:
        result = run_sweep(
            plan, executor, in_flight=jobs * IN_FLIGHT_PER_WORKER, should_stop=lambda: False
        )
    finally:
        executor.shutdown(wait=True)
    wall_s, used_s = time.perf_counter() - started, cpu_s() - cpu0
    if len(result.points) != len(plan.points) or any(p.failures for p in result.points):
        raise RuntimeError("the sweep did not finish every point")
    return wall_s, used_s, len(result.points)


def run_jobs1(args: argparse.Namespace) -> Sample:
    """40 points on this process alone."""
    wall_s, used_s, points = _sweep(scenario_path(args.tmp, args.size), GRID, jobs=1)
    return {"wall_s": wall_s, "cpu_s": used_s, "points": points, "rate": points / wall_s}


def run_jobs2(args: argparse.Namespace) -> Sample:
    """40 points on two worker processes."""
    wall_s, used_s, points = _sweep(scenario_path(args.tmp, args.size), GRID, jobs=2)
    return {"wall_s": wall_s, "cpu_s": used_s, "points": points, "rate": points / wall_s}


REPEATS = 10


def _bare(args: argparse.Namespace, *, write_log: bool) -> Sample:
    from dtq.engine import runner
    from dtq.fold.state import RunState
    from dtq.scenario import load_scenario

    scenario = load_scenario(scenario_path(args.tmp, args.size))
    log = args.tmp / "bare.jsonl"
    started, cpu0 = time.perf_counter(), cpu_s()
    for seed in range(1, REPEATS + 1):
        state = RunState()

        def observe(batch: list[dict[str, Any]], state: RunState = state) -> None:
            state.apply_all(batch)

        runner.run(
            scenario.with_overrides(seed=seed),
            log_path=log,
            observers=[observe],
            write_log=write_log,
        )
    per_point = (time.perf_counter() - started) / REPEATS
    cpu_per_point = (cpu_s() - cpu0) / REPEATS
    return {"per_point_s": per_point, "cpu_per_point_s": cpu_per_point, "tasks": state.submitted}


def run_bare(args: argparse.Namespace) -> Sample:
    """The run itself: runner and reducer, no log."""
    return _bare(args, write_log=False)


def run_logged(args: argparse.Namespace) -> Sample:
    """The run with its JSON log written, as `--out` does."""
    return _bare(args, write_log=True)


def run_point(args: argparse.Namespace) -> Sample:
    """The same runs as sweep points in one worker process, everything included."""
    seeds = f"1..{REPEATS}"
    from dtq.study.execute import local_pool
    from dtq.study.sweep import plan_sweep, run_sweep

    started, cpu0 = time.perf_counter(), cpu_s()
    plan = plan_sweep(scenario_path(args.tmp, args.size), [], seeds=seeds)
    executor = local_pool(1)
    try:
        run_sweep(plan, executor, in_flight=2, should_stop=lambda: False)
    finally:
        executor.shutdown(wait=True)  # the worker has ended: its CPU time is counted
    return {
        "per_point_s": (time.perf_counter() - started) / REPEATS,
        "cpu_per_point_s": (cpu_s() - cpu0) / REPEATS,
    }


def _memory(args: argparse.Namespace, workers: int) -> Sample:
    from bench.common import peak_rss_kb

    values = ",".join(str(count) for count in range(4, 4 + workers))
    wall_s, _cpu, points = _sweep(
        scenario_path(args.tmp, args.size),
        [f"workers={values}", "retry.max_attempts=2,3,4,5"],
        jobs=1,
    )
    return {"points": points, "peak_rss_kb": peak_rss_kb(), "wall_s": wall_s}


def run_mem40(args: argparse.Namespace) -> Sample:
    """40 points, in this process: peak RSS."""
    return _memory(args, 10)


def run_mem160(args: argparse.Namespace) -> Sample:
    """160 points, in this process: peak RSS."""
    return _memory(args, 40)


VARIANTS = {
    "jobs1": run_jobs1,
    "jobs2": run_jobs2,
    "bare": run_bare,
    "logged": run_logged,
    "point": run_point,
    "mem40": run_mem40,
    "mem160": run_mem160,
}

if __name__ == "__main__":
    sys.exit(worker_main(VARIANTS))
