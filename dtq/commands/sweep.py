"""`dtq sweep SCENARIO --set PATH=V1,V2 --seeds N`: every combination times every seed."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from dtq.engine import runner
from dtq.errors import UsageError
from dtq.study import render
from dtq.study.cluster import cluster_executor
from dtq.study.execute import IN_FLIGHT_PER_WORKER, InProcess, JobResult, local_pool
from dtq.study.html import render_html
from dtq.study.progress import progress_view
from dtq.study.result import SweepResult
from dtq.study.sweep import SweepPlan, plan_sweep, run_sweep

FORMATS = ("text", "markdown", "json", "csv", "html")
_FILE_WIDTH = 200
"""Columns for the text table in a file or pipe: as wide as it needs, up to this."""


def register(subparsers: Any) -> None:
    """Add `dtq sweep` to the command line."""
    parser = subparsers.add_parser(
        "sweep",
        help="run a scenario over a grid of values and many seeds; means with 95%% intervals",
        description=(
            "Run every combination of the --set values, each with every seed, on the virtual "
            "clock; print one row per combination with each metric's mean and 95%% confidence "
            "interval across seeds (Student t). Without --set: replications of the scenario."
        ),
    )
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=V1,V2,...",
        help="a dotted path and the values to sweep, read as YAML (repeatable: a grid)",
    )
    parser.add_argument("--seeds", default="10", metavar="N|A..B", help="seeds 1..N or A..B (10)")
    parser.add_argument(
        "--jobs", type=int, metavar="N", help="local worker processes (default: every core)"
    )
    parser.add_argument(
        "--cluster", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://HOST:8786"
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="keep every run's event log here")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write it to FILE")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress on stderr (else a bar on a terminal, a line every 10 s elsewhere)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Plan, run, print; 0 all points passed, 1 one failed, 2 bad input, 130 interrupted."""
    if args.jobs is not None and args.cluster:
        raise UsageError("--jobs is for local processes; a --cluster's workers set its size")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs: must be at least 1 (got {args.jobs})")
    plan = plan_sweep(args.scenario, args.set, seeds=args.seeds, out=args.out)
    stops = runner.StopRequests()
    with (
        runner.stop_signals(stops.request, ignore_after=lambda: stops.count > 0),
        _executor(args) as (executor, workers),
    ):
        result = _run(plan, executor, workers, args, lambda: stops.count > 0)
    _write(result, args)
    if result.interrupted:
        return 130
    return 0 if result.passed else 1


@contextmanager
def _executor(args: argparse.Namespace) -> Iterator[tuple[Executor, int]]:
    """The executor the flags ask for and how many runs it takes at once; shut down after."""
    if args.cluster:
        with cluster_executor(args.cluster) as (executor, workers):
            yield executor, workers
        return
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    executor = InProcess() if jobs == 1 else local_pool(jobs)
    try:
        yield executor, jobs
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _run(
    plan: SweepPlan,
    executor: Executor,
    workers: int,
    args: argparse.Namespace,
    should_stop: Callable[[], bool],
) -> SweepResult:
    """Run the plan, its progress on stderr: a bar on a terminal, lines elsewhere, or none."""
    view = progress_view(
        runs=plan.runs, points=len(plan.points), quiet=args.quiet, stream=sys.stderr
    )

    def on_result(result: JobResult, point_done: bool) -> None:
        if result.error is not None:
            label = plan.points[result.point].label()
            view.say(f"dtq: {label} seed {result.seed} failed: {result.error}")
        view.advance(failed=result.error is not None, point_done=point_done)

    outcome = "stopped"  # by an error, which is said after this line
    try:
        result = run_sweep(
            plan,
            executor,
            in_flight=max(1, workers) * IN_FLIGHT_PER_WORKER if workers > 1 else 1,
            should_stop=should_stop,
            on_result=on_result,
        )
        outcome = "interrupted" if result.interrupted else "done"
    finally:
        view.close(outcome=outcome)
    return result


def _write(result: SweepResult, args: argparse.Namespace) -> None:
    """Print the result in the chosen format, to stdout or to -o FILE."""
    if args.format == "text":
        _write_text(result, args.output)
        return
    text = {
        "markdown": render.markdown,
        "json": render.json_text,
        "csv": render.csv_text,
        "html": render_html,
    }[args.format](result)
    if args.output is None:
        sys.stdout.write(text)
        return
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"-o {args.output}: cannot write: {exc.strerror or exc}") from None
    print(f"sweep: wrote {args.output}", file=sys.stderr)


def _write_text(result: SweepResult, output: Path | None) -> None:
    """The rich table and its footer (plain text in a file)."""
    if output is None:
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=_FILE_WIDTH)
        console.print(render.text_table(result))
        for line in render.footer(result):
            console.print(line)
        return
    try:
        with output.open("w", encoding="utf-8") as handle:
            console = Console(file=handle, width=_FILE_WIDTH, no_color=True, highlight=False)
            console.print(render.text_table(result))
            for line in render.footer(result):
                console.print(line)
    except OSError as exc:
        raise UsageError(f"-o {output}: cannot write: {exc.strerror or exc}") from None
