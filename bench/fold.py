"""Row 4: how fast a saved log folds back into numbers (replay --final, report).

A log of about a million events is written once by a virtual-clock run of a busy
scenario (four task types, failures, retries, dead letters, an outage and a worker
crash), then read by:

- parse: the floor, `orjson.loads` of every line and nothing else;
- fold: `dtq.log.reader.fold_log` (read, check each event's fields, `RunState.apply`);
- report: fold, then `dtq.render.report.build_report`;
- `dtq report --format json` and `dtq replay --final --plain`: the commands end to
  end in a fresh interpreter, start-up included.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import orjson

from bench.common import (
    BenchError,
    Row,
    Sample,
    alternate,
    fmt_num,
    fmt_ratio,
    median,
    paired_ratio,
    run_worker,
    scenario_file,
    spread,
    worker_main,
)
from dtq.render.markdown import markdown_table

EVENTS = {"quick": 20_000, "full": 1_000_000}
GOAL_EVENTS_PER_S = 1_000_000
# Events the scenario below writes per second of its clock (measured), to size the log.
EVENTS_PER_CLOCK_S = 758.0
LOG_NAME = "fold-source.jsonl"

SCENARIO = """\
name: fold-source
seed: 3
clock: virtual
workers: 8
retry: {{max_attempts: 3, backoff: exponential, base_delay: 50ms, max_delay: 1s,
        jitter: full, retry_on: [network, crash]}}
task_types:
  email:  {{priority: 2, duration: {{dist: exponential, mean: 20ms}},
           failures: {{network: 0.08, bad_input: 0.01}}}}
  thumb:  {{priority: 5, duration: {{dist: lognormal, median: 15ms, sigma: 0.6}}}}
  report: {{priority: 7, duration: {{dist: uniform, low: 10ms, high: 60ms}},
           timeout: 55ms, failures: {{network: 0.05}}}}
  export: {{priority: 9, duration: {{dist: constant, value: 30ms}}}}
arrivals:
  - {{pattern: poisson, task: email,  rate: 100, from: 0s, until: {until}s}}
  - {{pattern: poisson, task: thumb,  rate: 90,  from: 0s, until: {until}s}}
  - {{pattern: poisson, task: report, rate: 40,  from: 0s, until: {until}s}}
  - {{pattern: constant, task: export, rate: 10, from: 0s, until: {until}s}}
faults:
  - {{kind: outage, from: {outage_from}s, until: {outage_until}s, error: network, rate: 0.5}}
  - {{kind: worker_crash, at: {crash_at}s, workers: 2, restart_after: 1s}}
"""


def generate(args: argparse.Namespace) -> Sample:
    """Write the source log (once per benchmark run; not timed)."""
    from dtq.engine import runner

    until = args.size / EVENTS_PER_CLOCK_S
    text = SCENARIO.format(
        until=until, outage_from=until * 0.4, outage_until=until * 0.4 + 5, crash_at=until / 2
    )
    scenario = scenario_file(args.tmp, "fold-source", text)
    outcome = runner.run(scenario, log_path=args.tmp / LOG_NAME)
    if outcome.status != "completed":
        raise BenchError(f"writing the source log ended {outcome.status}: {outcome.error}")
    log = args.tmp / LOG_NAME
    return {
        "events": _count(log),
        "bytes": log.stat().st_size,
        "dead": outcome.totals["dead_lettered"],
    }


def _count(log: Path) -> int:
    with log.open("rb") as stream:
        return sum(1 for _ in stream)


def _timed(events: int, wall_s: float, cpu_s: float) -> Sample:
    return {"events": events, "wall_s": wall_s, "rate": events / wall_s, "cpu_s": cpu_s}


def run_parse(args: argparse.Namespace) -> Sample:
    """The floor: read every line and parse it, nothing more."""
    loads = orjson.loads
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with (args.tmp / LOG_NAME).open("rb") as stream:
        events = 0
        for line in stream:
            loads(line)
            events += 1
    return _timed(events, time.perf_counter() - wall0, time.process_time() - cpu0)


def run_fold(args: argparse.Namespace) -> Sample:
    """`dtq.log.reader.fold_log`: what replay --final does before it draws."""
    from dtq.log.reader import fold_log

    wall0, cpu0 = time.perf_counter(), time.process_time()
    state, _ = fold_log(args.tmp / LOG_NAME)
    return _timed(state.seq, time.perf_counter() - wall0, time.process_time() - cpu0)


def run_report(args: argparse.Namespace) -> Sample:
    """Fold, then build the report dict: what `dtq report` computes."""
    from dtq.log.reader import fold_log
    from dtq.render.report import build_report

    wall0, cpu0 = time.perf_counter(), time.process_time()
    state, reader = fold_log(args.tmp / LOG_NAME)
    build_report(state, warnings=reader.warnings)
    return _timed(state.seq, time.perf_counter() - wall0, time.process_time() - cpu0)


def _run_cli(args: argparse.Namespace, *command: str) -> Sample:
    log = args.tmp / LOG_NAME
    events = _count(log)
    cmd = [sys.executable, "-m", "dtq", *command[:1], str(log), *command[1:]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    wall_s = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise BenchError(f"`dtq {' '.join(command)}` failed: {proc.stderr.decode()[-2000:]}")
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return _timed(events, wall_s, cpu_s)


def run_cli_report(args: argparse.Namespace) -> Sample:
    """`dtq report LOG --format json`, end to end."""
    return _run_cli(args, "report", "--format", "json")


def run_cli_replay(args: argparse.Namespace) -> Sample:
    """`dtq replay LOG --final --plain`, end to end."""
    return _run_cli(args, "replay", "--final", "--plain")


VARIANTS = {
    "parse": ("parse only (orjson.loads per line)", run_parse),
    "fold": ("dtq.log.reader.fold_log", run_fold),
    "report": ("fold + build_report", run_report),
    "cli_report": ("`dtq report --format json` (process)", run_cli_report),
    "cli_replay": ("`dtq replay --final --plain` (process)", run_cli_replay),
}


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Write the source log, fold it every way side by side and build row 4."""
    source = run_worker("fold", "generate", size=EVENTS[size], tmp=tmp)
    samples = alternate("fold", list(VARIANTS), repeat=repeat, size=EVENTS[size], tmp=tmp)
    rows = [
        [
            VARIANTS[key][0],
            fmt_num(median(runs, "rate")),
            spread(runs, "rate"),
            f"{median(runs, 'wall_s'):.2f}",
            f"{median(runs, 'cpu_s'):.2f}",
            fmt_num(median([{"r": r["events"] / r["cpu_s"]} for r in runs], "r")),
        ]
        for key, runs in samples.items()
    ]
    fold_rate = median(samples["fold"], "rate")
    report_rate = median(samples["report"], "rate")
    details = [
        f"Source log: {source['events']:,} events ({source['bytes'] / 2**20:.0f} MB, "
        f"{source['dead']:,} dead letters), written once by a virtual-clock run. Rates are "
        "events per wall second; the two command lines include interpreter start-up. "
        "CPU s is the reader's own CPU time (the command's, for the command lines): on a "
        "shared machine it moves less than wall time.",
        "",
        *markdown_table(["reader", "events/s", "range", "wall s", "CPU s", "events/CPU s"], rows),
    ]
    return Row(
        number=4,
        title=f"Fold rate: replay --final / report of a {source['events']:,}-event log (events/s)",
        dtq=f"fold {fmt_num(fold_rate)}<br>report {fmt_num(report_rate)}",
        peers=[f"parse only {fmt_num(median(samples['parse'], 'rate'))}"],
        ratios=[
            f"fold {fmt_ratio(paired_ratio(samples['fold'], samples['parse'], 'rate'))} parse",
            f"report {fmt_ratio(report_rate / GOAL_EVENTS_PER_S)} goal",
        ],
        goal=f"≥{GOAL_EVENTS_PER_S:,} events/s",
        met=min(median(runs, "rate") for key, runs in samples.items() if key != "parse")
        >= GOAL_EVENTS_PER_S,
        details=details,
    )


if __name__ == "__main__":
    sys.exit(worker_main({"generate": generate, **{k: fn for k, (_, fn) in VARIANTS.items()}}))
