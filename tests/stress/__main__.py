"""`python -m tests.stress`: run every part, print the figures; exit 0 when all held."""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.stress import Figures
from tests.stress import __doc__ as overview
from tests.stress.big import big_run
from tests.stress.fuzz import fuzz_logs, fuzz_scenarios
from tests.stress.memory import MEMORY_LIMIT_MB, measure_readers
from tests.stress.shared import RUNS_AT_ONCE, shared_logs
from tests.stress.stops import redis_stops, threaded_stops

# A runaway allocation in this process (a reader fed a huge `t`) becomes a MemoryError,
# counted as a traceback, instead of taking a shared machine down.
DATA_CAP_BYTES = 6 * 1024**3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The stress tool's options (the defaults are the published bar)."""
    parser = argparse.ArgumentParser(prog="python -m tests.stress", description=overview)
    add = parser.add_argument
    add("--runs", type=int, default=180, help="threaded runs stopped by a signal")
    add("--redis-runs", type=int, default=120, help="distributed runs disturbed")
    add("--redis-lanes", type=int, default=2, help="Redis servers of our own, runs at a time")
    add("--fuzz", type=int, default=3000, help="scenario files fuzzed")
    add("--logs", type=int, default=3000, help="damaged logs read")
    add("--shared", type=int, default=20, help="trials of runs at once on one log")
    add("--memory-events", type=int, default=100_000, help="events in the memory logs")
    add("--big", type=int, default=300_000, help="tasks in the threaded big run")
    add("--big-virtual", type=int, default=1_000_000, help="tasks in the virtual big run")
    add("--parallel", type=int, default=4, help="threaded runs at a time")
    add("--seed", type=int, default=1, help="seed of the random moments and damages")
    add("--markdown", type=Path, metavar="FILE", help="also write the figures as markdown")
    return parser.parse_args(argv)


def run_parts(args: argparse.Namespace, figures: Figures, folder: Path) -> None:
    """Every part the options ask for, in order, each announced."""
    print(f"stopping {args.runs} threaded runs at random moments", flush=True)
    threaded_stops(figures, folder, runs=args.runs, parallel=args.parallel, seed=args.seed)
    if args.redis_runs and shutil.which("redis-server") is None:
        figures.trial("stop Redis run: redis-server available", ["redis-server is not installed"])
    elif args.redis_runs:
        print(f"disturbing {args.redis_runs} distributed runs ({args.redis_lanes} Redis servers)")
        redis_stops(figures, folder, runs=args.redis_runs, lanes=args.redis_lanes, seed=args.seed)
    print(f"fuzzing {args.fuzz} scenario files and {args.logs} damaged logs", flush=True)
    if args.fuzz:
        fuzz_scenarios(figures, folder, cases=args.fuzz)
    if args.logs:
        fuzz_logs(figures, folder, cases=args.logs, seed=args.seed)
    print(f"{args.shared} trials of {RUNS_AT_ONCE} runs at once on one log", flush=True)
    shared_logs(figures, folder, trials=args.shared)
    if args.memory_events:
        print(f"memory of reading logs of up to {args.memory_events:,} events", flush=True)
        measure_readers(figures, events=args.memory_events)
    for clock, tasks in (("real", args.big), ("virtual", args.big_virtual)):
        if tasks:
            print(f"big run: {tasks:,} tasks, {clock} clock", flush=True)
            big_run(figures, folder, clock=clock, tasks=tasks)


def table(figures: Figures) -> list[str]:
    """The figures as a markdown table: tried, survived, lost per kind of trial."""
    rows = ["| trial | tried | survived | lost |", "|---|---:|---:|---:|"]
    for kind, tally in figures.tallies.items():
        rows.append(f"| {kind} | {tally.tried:,} | {tally.survived:,} | {tally.lost:,} |")
    return rows


def print_figures(figures: Figures, elapsed_s: float) -> list[str]:
    """Print the figures; return them as markdown lines."""
    lines = table(figures)
    for prefix in ("stop", "fuzz scenario", "damaged log", "runs at once", "memory", "big"):
        total = figures.total(prefix)
        lines.append(
            f"| **all {prefix}** | **{total.tried:,}** | **{total.survived:,}** | "
            f"**{total.lost:,}** |"
        )
    lines += ["", f"Tasks unaccounted in all logs: {figures.unaccounted}."]
    lines += [f"Memory limit for reading commands: {MEMORY_LIMIT_MB} MB."]
    lines += [f"- {note}" for note in figures.notes]
    lines += [f"Took {elapsed_s / 60:.0f} minutes."]
    print("\n" + "\n".join(lines))
    print(f"problems: {len(figures.problems)} shown above")
    print("stress: ok" if figures.ok else "stress: FAILED")
    return lines


def stress(argv: list[str] | None = None) -> int:
    """Run every part, print the figures; 0 when every promise held."""
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if soft == resource.RLIM_INFINITY or soft > DATA_CAP_BYTES:
        resource.setrlimit(resource.RLIMIT_DATA, (DATA_CAP_BYTES, hard))
    figures = Figures()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dtq-stress-") as tmp:
        run_parts(args, figures, Path(tmp))
    lines = print_figures(figures, time.monotonic() - started)
    if args.markdown is not None:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(stress())
