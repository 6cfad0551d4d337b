"""Row 12: a call to a dependency in every attempt, against the same queue without calls.

Two M/M/2 queues on the virtual clock with the same arrivals (Poisson, 1.6 tasks/s) and
the same service (exponential, mean 1 s), each run through `dtq.engine.runner.run` with
its full event log written. In one the service is the task type's own `duration`; in the
other each attempt is one step, a call to a dependency `db` with 2 slots (as many as the
workers: a call never waits in line) whose latency is that service. So both simulate the
same system, and the second also writes `call_started` and `call_ended` for every task.
The goal: the queue with calls keeps at least 60% of the task rate of the queue without
them (the difference is what modelling a dependency costs per task).
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
    fmt_num,
    fmt_ratio,
    median,
    paired_ratio,
    peak_rss_kb,
    scenario_file,
    spread,
    worker_main,
)
from dtq.render.markdown import markdown_table

RATE = 1.6
TASKS = {"quick": 4_000, "full": 200_000}
GOAL = 0.6

SCENARIO = """\
name: {name}
seed: {seed}
clock: virtual
workers: 2
{dependencies}task_types:
  job: {{priority: 1, {work}}}
arrivals:
  - {{pattern: poisson, task: job, rate: {rate}, from: 0s, until: {until}s}}
"""
PLAIN = {"dependencies": "", "work": "duration: {dist: exponential, mean: 1s}"}
CALLS = {
    "dependencies": (
        "dependencies:\n  db: {concurrency: 2, latency: {dist: exponential, mean: 1s}}\n"
    ),
    "work": "steps: [{call: db}]",
}


def _run(args: argparse.Namespace, name: str, parts: dict[str, str]) -> Sample:
    """Run one of the two scenarios, full log written; tasks per wall and per CPU second."""
    from dtq.engine import runner
    from dtq.log.reader import fold_log

    text = SCENARIO.format(name=name, seed=args.seed, rate=RATE, until=args.size / RATE, **parts)
    scenario = scenario_file(args.tmp, f"{name}-{args.seed}", text)
    log = args.tmp / f"{name}-{args.seed}.jsonl"
    base_kb = peak_rss_kb()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    end = runner.run(scenario, log_path=log)
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    if end.status != "completed":
        raise BenchError(f"{name} ended {end.status}: {end.error}")
    tasks = end.totals["submitted"]
    state, _ = fold_log(log)  # after the clock stopped: the check, not the measurement
    log.unlink()
    return {
        "tasks": tasks,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "rate": tasks / wall_s,
        "cpu_rate": tasks / cpu_s,
        "events": state.seq,
        "wait": state.wait_stats(1).mean,
        "base_rss_kb": base_kb,
        "peak_rss_kb": peak_rss_kb(),
    }


def run_plain(args: argparse.Namespace) -> Sample:
    """The queue whose service is the task type's own duration."""
    return _run(args, "plain", PLAIN)


def run_calls(args: argparse.Namespace) -> Sample:
    """The same queue whose service is one call to a dependency."""
    return _run(args, "calls", CALLS)


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Run both queues side by side and build row 12."""
    tasks = TASKS[size]
    samples = alternate("calls", ["plain", "calls"], repeat=repeat, size=tasks, tmp=tmp)
    # Judged by CPU time: both sides are dtq on one thread, so what one costs more per
    # task is the design's, and the machine's other load falls out.
    by_cpu = paired_ratio(samples["calls"], samples["plain"], "cpu_rate")
    by_wall = paired_ratio(samples["calls"], samples["plain"], "rate")
    rows = [
        [
            label,
            fmt_num(median(runs, "tasks")),
            fmt_num(median(runs, "events")),
            fmt_num(median(runs, "cpu_rate")),
            fmt_num(median(runs, "rate")),
            spread(runs, "rate"),
            f"{median(runs, 'cpu_s'):.2f}",
            f"{median(runs, 'wait'):.3f}",
        ]
        for label, runs in (
            ("without calls (duration)", samples["plain"]),
            ("one call per attempt", samples["calls"]),
        )
    ]
    details = [
        f"{tasks:,} tasks on 2 workers, Poisson arrivals at {RATE:g}/s, exponential service "
        "of mean 1 s: as the task's duration, or as the latency of one call to a "
        "dependency with 2 slots. Both write their full event log; the mean waits agree "
        "(the same queue). The goal is judged on tasks per CPU second (both are dtq on "
        f"one thread); by wall time the ratio is {fmt_ratio(by_wall)}.",
        "",
        *markdown_table(
            [
                "variant",
                "tasks",
                "events",
                "tasks/CPU s",
                "tasks/s",
                "range",
                "CPU s",
                "mean wait (s)",
            ],
            rows,
        ),
    ]
    return Row(
        number=12,
        title=f"Dependency calls: {tasks:,} tasks, one call per attempt (tasks/CPU s)",
        dtq=fmt_num(median(samples["calls"], "cpu_rate")),
        peers=[f"without calls {fmt_num(median(samples['plain'], 'cpu_rate'))}"],
        ratios=[f"{fmt_ratio(by_cpu)} without calls"],
        goal=f"≥{GOAL:g}x without calls",
        met=by_cpu >= GOAL,
        details=details,
    )


if __name__ == "__main__":
    sys.exit(worker_main({"plain": run_plain, "calls": run_calls}))
