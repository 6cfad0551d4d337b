"""Row 2: the threaded engine on no-op tasks, against a naive runner and a thread pool.

dtq runs a scenario file (one burst of no-op tasks, `duration: {dist: constant, value:
0s}`, 8 workers, real clock) through `dtq.engine.runner.run` with its event log on.
The peers (bench/naive_queue.py) write the same three events per task with the same
fields, so the three pay for the same log; the numbers are tasks per wall second from
the first submission to the last line written.
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
    count_lines,
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
from bench.naive_queue import run_executor, run_naive
from dtq.render.markdown import markdown_table

WORKERS = 8
TASKS = {"quick": 5_000, "full": 200_000}
GOAL_NAIVE = 1.0
GOAL_EXECUTOR = 3.0

SCENARIO = """\
name: noop-burst
seed: {seed}
clock: real
workers: {workers}
task_types:
  noop: {{priority: 5, duration: {{dist: constant, value: 0s}}}}
arrivals:
  - {{pattern: burst, task: noop, count: {count}}}
"""


def _sample(tasks: int, lines: int, wall_s: float, cpu_s: float, base_kb: int) -> Sample:
    return {
        "tasks": tasks,
        "lines": lines,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "rate": tasks / wall_s,
        "base_rss_kb": base_kb,
        "peak_rss_kb": peak_rss_kb(),
    }


def run_dtq(args: argparse.Namespace) -> Sample:
    """dtq: the scenario file through the runner on the threaded engine, log on."""
    from dtq.engine import runner

    text = SCENARIO.format(seed=args.seed, workers=WORKERS, count=args.size)
    scenario = scenario_file(args.tmp, f"noop-{args.seed}", text)
    log = args.tmp / f"noop-dtq-{args.seed}.jsonl"
    base_kb = peak_rss_kb()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcome = runner.run(scenario, log_path=log)
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    if outcome.status != "completed" or outcome.totals["succeeded"] != args.size:
        raise BenchError(f"dtq run ended {outcome.status} with {outcome.totals}")
    sample = _sample(args.size, count_lines(log), wall_s, cpu_s, base_kb)
    log.unlink()
    return sample


def _run_peer(args: argparse.Namespace, name: str) -> Sample:
    log = args.tmp / f"noop-{name}-{args.seed}.jsonl"
    runner = run_naive if name == "naive" else run_executor
    base_kb = peak_rss_kb()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    done = runner(args.size, workers=WORKERS, log_path=log)
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    if done != args.size:
        raise BenchError(f"the {name} runner finished {done} of {args.size} tasks")
    sample = _sample(done, count_lines(log), wall_s, cpu_s, base_kb)
    log.unlink()
    return sample


def run_naive_peer(args: argparse.Namespace) -> Sample:
    """The naive heapq + Condition runner."""
    return _run_peer(args, "naive")


def run_executor_peer(args: argparse.Namespace) -> Sample:
    """ThreadPoolExecutor with one callable per task."""
    return _run_peer(args, "executor")


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Run dtq, the naive runner and the executor side by side and build row 2."""
    tasks = TASKS[size]
    samples = alternate(
        "threaded", ["dtq", "naive", "executor"], repeat=repeat, size=tasks, tmp=tmp
    )
    vs_naive = paired_ratio(samples["dtq"], samples["naive"], "rate")
    vs_executor = paired_ratio(samples["dtq"], samples["executor"], "rate")
    names = {"dtq": "dtq", "naive": "naive heapq runner", "executor": "ThreadPoolExecutor"}
    rows = [
        [
            names[key],
            fmt_num(median(runs, "rate")),
            spread(runs, "rate"),
            f"{median(runs, 'wall_s'):.2f}",
            f"{median(runs, 'cpu_s'):.2f}",
            fmt_num(median(runs, "lines")),
            fmt_mb(median(runs, "peak_rss_kb") - median(runs, "base_rss_kb")),
        ]
        for key, runs in samples.items()
    ]
    details = [
        f"{tasks:,} no-op tasks, {WORKERS} worker threads, event log on. dtq: "
        "`dtq.engine.runner.run` on the scenario file (threaded engine, real clock; its log "
        "also has run_started, worker and run_finished lines). The naive runner (heapq + "
        "`threading.Condition`, one lock hold ends a task and takes the next, like dtq) and "
        "the executor (`concurrent.futures.ThreadPoolExecutor`, one callable per task) write "
        "the same three events per task with the same fields as orjson lines to a "
        "buffered file, so all three pay for the same log. CPU s counts every thread, "
        "including what threads burn contending for the GIL when cores are free (it can "
        "exceed wall s). By CPU time per task: "
        f"{fmt_ratio(cpu_ratio(samples['dtq'], samples['naive']))} naive, "
        f"{fmt_ratio(cpu_ratio(samples['dtq'], samples['executor']))} executor.",
        "",
        *markdown_table(
            [
                "variant",
                "tasks/s",
                "range",
                "wall s",
                "CPU s",
                "log lines",
                "peak RSS over baseline",
            ],
            rows,
        ),
    ]
    return Row(
        number=2,
        title=f"Threaded engine: {tasks:,} no-op tasks, {WORKERS} workers, log on (tasks/s)",
        dtq=fmt_num(median(samples["dtq"], "rate")),
        peers=[
            f"naive {fmt_num(median(samples['naive'], 'rate'))}",
            f"executor {fmt_num(median(samples['executor'], 'rate'))}",
        ],
        ratios=[f"{fmt_ratio(vs_naive)} naive", f"{fmt_ratio(vs_executor)} executor"],
        goal=f"≥{GOAL_NAIVE:g}x naive, ≥{GOAL_EXECUTOR:g}x executor",
        met=vs_naive >= GOAL_NAIVE and vs_executor >= GOAL_EXECUTOR,
        details=details,
    )


if __name__ == "__main__":
    sys.exit(worker_main({"dtq": run_dtq, "naive": run_naive_peer, "executor": run_executor_peer}))
