"""Row 5: memory per queued task, with a million tasks ready at once (a burst).

dtq: the scenario file compiled to a plan, then every task of the burst built by
`iter_tasks` and handed to `Scheduler.submit`, whose events go through an `EventSink`
into a log file and are flushed in batches (never kept). Nothing runs: all the tasks
sit in the ready queue together. The floor keeps only what any priority queue must:
a heap of `(priority, sequence, task id)` tuples. Peak RSS (`ru_maxrss`) minus the
RSS measured in the same process just before the tasks are built, per task.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from pathlib import Path

from bench.common import (
    BenchError,
    Row,
    Sample,
    alternate,
    fmt_mb,
    fmt_ratio,
    median,
    paired_ratio,
    peak_rss_kb,
    scenario_file,
    spread,
    worker_main,
)
from dtq.render.markdown import markdown_table

TASKS = {"quick": 50_000, "full": 1_000_000}
GOAL_BYTES = 300

SCENARIO = """\
name: million
seed: {seed}
clock: virtual
workers: 8
task_types:
  noop: {{priority: 5, duration: {{dist: constant, value: 0s}}}}
arrivals:
  - {{pattern: burst, task: noop, count: {count}}}
"""


def _sample(tasks: int, base_kb: int) -> Sample:
    peak_kb = peak_rss_kb()
    return {
        "tasks": tasks,
        "base_rss_kb": base_kb,
        "peak_rss_kb": peak_kb,
        "bytes_per_task": (peak_kb - base_kb) * 1024 / tasks,
    }


def run_dtq(args: argparse.Namespace) -> Sample:
    """Submit the whole burst into dtq's ready queue, events flushed to a file."""
    from dtq.core.scheduler import Scheduler
    from dtq.core.workload import iter_tasks
    from dtq.log.sink import EventSink, open_log
    from dtq.scenario.compile import compile_plan

    scenario = scenario_file(args.tmp, "million", SCENARIO.format(seed=args.seed, count=args.size))
    plan = compile_plan(scenario.model)
    log = args.tmp / f"million-{args.seed}.jsonl"
    sink = EventSink(open_log(log), path=log)
    sched = Scheduler(plan, sink.emit, workers=plan.workers)
    base_kb = peak_rss_kb()
    for _, task in iter_tasks(plan):
        sched.submit(task, 0.0)
    sink.flush()
    if len(sched.ready) != args.size:
        raise BenchError(f"{len(sched.ready)} tasks queued, expected {args.size}")
    sample = _sample(args.size, base_kb)
    sink.close()
    log.unlink()
    return sample


def run_floor(args: argparse.Namespace) -> Sample:
    """The least a priority queue holds per task: (priority, sequence, id) in a heap."""
    heap: list[tuple[int, int, str]] = []
    base_kb = peak_rss_kb()
    for seq in range(1, args.size + 1):
        heapq.heappush(heap, (5, seq, f"noop-{seq:06d}"))
    return _sample(len(heap), base_kb)


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Queue a burst in dtq and in the floor side by side and build row 5."""
    tasks = TASKS[size]
    samples = alternate("memory", ["dtq", "floor"], repeat=repeat, size=tasks, tmp=tmp)
    names = {
        "dtq": "dtq (Scheduler.submit, events to a file)",
        "floor": "heap of (priority, seq, id)",
    }
    rows = [
        [
            names[key],
            f"{median(runs, 'bytes_per_task'):.0f}",
            spread(runs, "bytes_per_task"),
            fmt_mb(median(runs, "base_rss_kb")),
            fmt_mb(median(runs, "peak_rss_kb")),
        ]
        for key, runs in samples.items()
    ]
    per_task = median(samples["dtq"], "bytes_per_task")
    details = [
        f"{tasks:,} tasks queued at once. dtq builds each task with `iter_tasks` (id, key, "
        "type) and submits it through `Scheduler.submit`; the `task_submitted` events go "
        "through the `EventSink` into a log file in batches and are not kept. Small sizes "
        "mostly measure the allocator's arenas, not the tasks.",
        "",
        *markdown_table(["variant", "bytes/task", "range", "baseline RSS", "peak RSS"], rows),
    ]
    return Row(
        number=5,
        title=f"Memory: {tasks:,} tasks queued at once (bytes per task over baseline)",
        dtq=f"{per_task:.0f} B",
        peers=[f"floor {median(samples['floor'], 'bytes_per_task'):.0f} B"],
        ratios=[
            f"{fmt_ratio(paired_ratio(samples['dtq'], samples['floor'], 'bytes_per_task'))} floor"
        ],
        goal=f"≤{GOAL_BYTES} B/task",
        met=per_task <= GOAL_BYTES,
        details=details,
    )


if __name__ == "__main__":
    sys.exit(worker_main({"dtq": run_dtq, "floor": run_floor}))
