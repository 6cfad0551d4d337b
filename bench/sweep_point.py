"""Row 13: one point of a sweep on row 1's M/M/2 model, against SimPy in process.

A sweep keeps no log unless asked (`--out`): each run's events go from the engine to
the reducer as dicts, never encoded or parsed. This row times exactly what a sweep's
worker does for one run, `dtq.study.execute.run_job` (the scenario with its seed, the
run, the fold, the summary), against row 1's SimPy model in the same kind of process,
both after their imports.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.common import (
    BenchError,
    Row,
    Sample,
    alternate,
    cpu_ratio,
    fmt_mb,
    fmt_num,
    fmt_ratio,
    median,
    paired_ratio,
    peak_rss_kb,
    scenario_file,
    spread,
    worker_main,
)
from bench.virtual_clock import RATE_HIGH, RATE_LOW, SCENARIO, TASKS, horizon_s, run_simpy
from dtq.render.markdown import markdown_table

GOAL_SIMPY = 5.0


def run_point(args: argparse.Namespace) -> Sample:
    """One sweep point as a sweep's worker runs it: `run_job`, no log kept."""
    from dtq.study.execute import Job, run_job

    text = SCENARIO.format(seed=args.seed, high=RATE_HIGH, low=RATE_LOW, until=horizon_s(args.size))
    scenario = scenario_file(args.tmp, f"point-{args.seed}", text)
    base_kb = peak_rss_kb()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = run_job(Job(point=0, seed=args.seed, scenario=scenario))
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    if result.metrics is None:
        raise BenchError(f"the sweep point failed: {result.error}")
    tasks = _submitted(scenario, args.seed)  # all of them: the run drains its queue
    return {
        "tasks": tasks,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "rate": tasks / wall_s,
        "base_rss_kb": base_kb,
        "peak_rss_kb": peak_rss_kb(),
        "wait_p95_high": result.metrics.wait_p95_s.get(1, 0.0),
    }


def _submitted(scenario: object, seed: int) -> int:
    """How many tasks the point's workload submits (the plan counts them without a run)."""
    from dtq.core.workload import count_tasks
    from dtq.scenario import LoadedScenario
    from dtq.scenario.compile import compile_plan

    assert isinstance(scenario, LoadedScenario)
    return count_tasks(compile_plan(scenario.with_overrides(seed=seed).model))


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Run a sweep point and SimPy side by side: row 13."""
    tasks = TASKS[size]
    samples = alternate("sweep_point", ["point", "simpy"], repeat=repeat, size=tasks, tmp=tmp)
    ratio = paired_ratio(samples["point"], samples["simpy"], "rate")
    by_cpu = cpu_ratio(samples["point"], samples["simpy"])
    names = {"point": "dtq sweep point (`run_job`, no log)", "simpy": "SimPy (in process)"}
    details = [
        "What a sweep's worker does for one run without `--out`: `dtq.study.execute.run_job` "
        "(the scenario with its seed, the virtual-clock run, every event folded by the "
        "reducer as a dict, the point's summary), against row 1's "
        f"SimPy model, both in process after their imports. By CPU time per task: "
        f"{fmt_ratio(by_cpu)} SimPy.",
        "",
        *markdown_table(
            ["variant", "tasks", "tasks/s", "range", "CPU s", "peak RSS over baseline"],
            [
                [
                    name,
                    fmt_num(median(samples[key], "tasks")),
                    fmt_num(median(samples[key], "rate")),
                    spread(samples[key], "rate"),
                    f"{median(samples[key], 'cpu_s'):.2f}",
                    fmt_mb(
                        median(samples[key], "peak_rss_kb") - median(samples[key], "base_rss_kb")
                    ),
                ]
                for key, name in names.items()
            ],
        ),
    ]
    return Row(
        number=13,
        title=f"Sweep point: row 1's model, {tasks:,} tasks, no log kept (tasks/s)",
        dtq=fmt_num(median(samples["point"], "rate")),
        peers=[f"SimPy {fmt_num(median(samples['simpy'], 'rate'))}"],
        ratios=[f"{fmt_ratio(ratio)} SimPy"],
        goal=f"≥{GOAL_SIMPY:g}x SimPy",
        met=ratio >= GOAL_SIMPY,
        details=details,
    )


if __name__ == "__main__":
    sys.exit(worker_main({"point": run_point, "simpy": run_simpy}))
