"""Row 3: dispatch latency and retry lateness of the threaded engine on the real clock.

A steady trickle (one no-op task every 2.5 ms, 4 workers, so a worker is always idle)
with 20% network failures retried after a jittered backoff of up to 10 ms. Four
numbers, each saying what it measures:

- dispatch (log): `task_started.t - task_submitted.t` of first attempts, what the
  scheduler observed between a task becoming ready and a worker taking it;
- retry lateness (log): `task_retry_ready.t - task_failed.retry_at`, how late the
  engine noticed that a retry's backoff was over;
- arrival lateness (log): `task_submitted.t` minus the arrival time the scenario asked
  for, how late the clock thread woke for an arrival;
- due -> task code (wall clock): read inside the task code through the engine's clock,
  minus when the task was due (its scheduled arrival, or its retry time): everything
  above plus the worker thread getting the CPU back after the lock.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.common import (
    BenchError,
    Row,
    Sample,
    alternate,
    fmt_ms,
    median,
    nearest_rank,
    scenario_file,
    worker_main,
)
from dtq.render.markdown import markdown_table

RATE = 400
TASKS = {"quick": 200, "full": 4_000}
GOAL_DISPATCH_P99_S = 0.001
GOAL_RETRY_P99_S = 0.002
MEASURES = (
    ("dispatch", "dispatch: ready -> started (log)"),
    ("retry_late", "retry lateness: retry_at -> retry_ready (log)"),
    ("arrival_late", "arrival lateness: scheduled -> submitted (log)"),
    ("due_to_code", "due -> task code running (wall clock)"),
)

SCENARIO = """\
name: trickle
seed: {seed}
clock: real
workers: 4
retry: {{max_attempts: 3, backoff: fixed, base_delay: 10ms, jitter: full, retry_on: [network]}}
task_types:
  job: {{priority: 5, duration: {{dist: constant, value: 0s}}, failures: {{network: 0.2}}}}
arrivals:
  - {{pattern: constant, task: job, rate: {rate}, from: 0s, until: {until}s}}
"""


def _percentiles(prefix: str, values: list[float]) -> Sample:
    return {
        f"{prefix}_n": len(values),
        f"{prefix}_p50": nearest_rank(values, 50),
        f"{prefix}_p99": nearest_rank(values, 99),
        f"{prefix}_max": max(values, default=0.0),
    }


def run_dtq(args: argparse.Namespace) -> Sample:
    """Run the trickle on the threaded engine and read the latencies back."""
    from dtq.core.task import Attempt
    from dtq.core.workload import iter_tasks
    from dtq.engine import runner
    from dtq.log.reader import iter_events
    from dtq.scenario.compile import compile_plan

    text = SCENARIO.format(seed=args.seed, rate=RATE, until=args.size / RATE)
    scenario = scenario_file(args.tmp, f"trickle-{args.seed}", text)
    scheduled = {task.id: t for t, task in iter_tasks(compile_plan(scenario.model))}
    engines: list[runner.Engine] = []
    code_lags: list[float] = []

    def execute(attempt: Attempt) -> None:
        task = attempt.task
        due = scheduled[task.id] if attempt.number == 1 else task.ready_t
        code_lags.append(engines[0].now() - due)

    log = args.tmp / f"trickle-{args.seed}.jsonl"
    outcome = runner.run(scenario, log_path=log, execute=execute, on_engine=engines.append)
    if outcome.status != "completed":
        raise BenchError(f"the trickle run ended {outcome.status}: {outcome.error}")
    measured = _from_log(iter_events(log), scheduled)
    measured["due_to_code"] = code_lags
    sample: Sample = {"tasks": outcome.totals["submitted"], "retries": outcome.totals["retried"]}
    for key, values in measured.items():
        sample.update(_percentiles(key, values))
    log.unlink()
    return sample


def _from_log(events: Any, scheduled: dict[str, float]) -> dict[str, list[float]]:
    submitted: dict[str, float] = {}
    retry_at: dict[str, float] = {}
    found: dict[str, list[float]] = {"dispatch": [], "retry_late": [], "arrival_late": []}
    for _, event in events:
        name = event["event"]
        if name == "task_submitted":
            submitted[event["task_id"]] = event["t"]
            found["arrival_late"].append(event["t"] - scheduled[event["task_id"]])
        elif name == "task_started" and event["attempt"] == 1:
            found["dispatch"].append(event["t"] - submitted[event["task_id"]])
        elif name == "task_failed" and event["will_retry"]:
            retry_at[event["task_id"]] = event["retry_at"]
        elif name == "task_retry_ready":
            found["retry_late"].append(event["t"] - retry_at[event["task_id"]])
    return found


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Run the trickle `repeat` times and build row 3 (medians of each percentile)."""
    tasks = TASKS[size]
    runs = alternate("latency", ["dtq"], repeat=repeat, size=tasks, tmp=tmp)["dtq"]
    rows = [
        [
            label,
            f"{median(runs, f'{key}_n'):,.0f}",
            fmt_ms(median(runs, f"{key}_p50")),
            fmt_ms(median(runs, f"{key}_p99")),
            fmt_ms(median(runs, f"{key}_max")),
        ]
        for key, label in MEASURES
    ]
    dispatch_p99 = median(runs, "dispatch_p99")
    retry_p99 = median(runs, "retry_late_p99")
    details = [
        f"{tasks:,} no-op tasks arriving every {1000 / RATE:g} ms on 4 workers (threaded "
        "engine, real clock, `dtq.engine.runner.run` on the scenario file with an `execute` "
        "hook); 20% fail with a network error and are retried after a fully jittered "
        "backoff of up to 10 ms. The log's times are the engine's clock read under its "
        "lock, to the microsecond; the last line also counts the worker thread waking up. "
        "Each cell is the median over repetitions of that percentile.",
        "",
        *markdown_table(["measure", "samples", "p50", "p99", "max"], rows),
    ]
    return Row(
        number=3,
        title="Dispatch latency on the real clock (p50 / p99 / max)",
        dtq=(
            f"dispatch {fmt_ms(median(runs, 'dispatch_p50'))} / {fmt_ms(dispatch_p99)} / "
            f"{fmt_ms(median(runs, 'dispatch_max'))}<br>retry lateness "
            f"{fmt_ms(median(runs, 'retry_late_p50'))} / {fmt_ms(retry_p99)} / "
            f"{fmt_ms(median(runs, 'retry_late_max'))}"
        ),
        peers=[],
        ratios=[
            f"p99 {dispatch_p99 / GOAL_DISPATCH_P99_S:.2f} of goal",
            f"p99 {retry_p99 / GOAL_RETRY_P99_S:.2f} of goal",
        ],
        goal=(
            f"dispatch p99 < {fmt_ms(GOAL_DISPATCH_P99_S)}, "
            f"retry lateness p99 < {fmt_ms(GOAL_RETRY_P99_S)}"
        ),
        met=dispatch_p99 < GOAL_DISPATCH_P99_S and retry_p99 < GOAL_RETRY_P99_S,
        details=details,
    )


if __name__ == "__main__":
    sys.exit(worker_main({"dtq": run_dtq}))
