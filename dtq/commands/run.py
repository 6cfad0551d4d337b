"""`dtq run SCENARIO`: run a scenario with the live dashboard, write its event log."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dtq.errors import DtqError, UsageError
from dtq.scenario.overrides import SET_HELP, parse_overrides

# The engines, pydantic and rich are imported when a run starts, not when the command
# line is parsed: `dtq --help` and `dtq validate` never pay for them.
if TYPE_CHECKING:
    from rich.console import Console

    from dtq.engine import runner
    from dtq.fold.state import RunState
    from dtq.scenario import LoadedScenario

NOT_JUDGED = "·"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dtq run` to the command line."""
    parser = subparsers.add_parser(
        "run",
        help="run a scenario and write its event log",
        description="Run a scenario: live dashboard on a terminal, plain progress otherwise.",
    )
    add_run_arguments(parser)
    parser.set_defaults(handler=handle)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `dtq run` (shared with run_scenario.py)."""
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML)")
    parser.add_argument("--seed", type=int, help="override the scenario's seed")
    parser.add_argument("--clock", choices=("real", "virtual"), help="override the clock")
    parser.add_argument(
        "--time-scale", type=float, metavar="X", help="real clock: run X times faster than written"
    )
    parser.add_argument("--workers", type=int, metavar="N", help="override the worker count")
    parser.add_argument("--set", action="append", metavar="PATH=VALUE", help=SET_HELP)
    parser.add_argument("--backend", metavar="URL", help="memory or redis://HOST:PORT/DB")
    parser.add_argument("--log", type=Path, metavar="PATH", help="where to write the event log")
    parser.add_argument("--plain", action="store_true", help="plain progress lines, no dashboard")
    parser.add_argument("--quiet", action="store_true", help="no progress at all, only the summary")
    parser.add_argument(
        "--refresh", type=float, default=4.0, metavar="N", help="dashboard refreshes per second"
    )


def resolve(args: argparse.Namespace) -> LoadedScenario:
    """Load the scenario named on the command line, with the flags' overrides."""
    from dtq.scenario import load_scenario

    if args.refresh <= 0:
        raise UsageError(f"--refresh: must be above 0 (got {args.refresh:g})")
    overrides = parse_overrides(args.set)
    return load_scenario(args.scenario, overrides=overrides).with_overrides(
        seed=args.seed,
        clock=args.clock,
        time_scale=args.time_scale,
        workers=args.workers,
        backend=args.backend,
    )


def handle(args: argparse.Namespace) -> int:
    """Run, print the summary and expectations; exit 0, 1 (expectation/failed), 130."""
    from dtq.engine import runner

    # Catch SIGINT/SIGTERM before loading: a stop at any moment still ends with a complete
    # log (when one could be opened) and exit 130.
    stops = runner.StopRequests()
    with runner.stop_signals(stops.request, ignore_after=lambda: stops.count > 0):
        try:
            code = _handle(args, stops)
        except DtqError as exc:
            if not stops.count:
                raise
            print(f"dtq: {exc}", file=sys.stderr)
            return 130
    return 130 if stops.count and code == 0 else code


def _handle(args: argparse.Namespace, stops: runner.StopRequests) -> int:
    """`handle` once the stop signals are caught."""
    from dtq.engine import runner
    from dtq.render.live import make_display

    scenario = resolve(args)
    if args.time_scale is not None and scenario.model.clock == "virtual":
        print(
            "dtq: warning: --time-scale has no effect on the virtual clock, which runs as "
            "fast as it can; it applies with --clock real",
            file=sys.stderr,
        )
    log_path: Path = args.log or runner.default_log_path(scenario.name)
    console = make_console()
    display = make_display(
        console=console,
        plain=args.plain,
        quiet=args.quiet,
        refresh_per_second=args.refresh,
        stdin=sys.stdin,
    )
    display.start()
    try:
        outcome = runner.run(
            scenario,
            log_path=log_path,
            observers=[display.on_events],
            stops=stops,
            unique_log=args.log is None,
        )
    finally:
        display.stop()
    return _conclude(console, scenario, outcome, display.state)


def _conclude(
    console: Console, scenario: LoadedScenario, outcome: runner.RunEnd, state: RunState
) -> int:
    """Print the summary, the log's path and the expectations; the exit code."""
    from dtq.events import STATUS_FAILED, STATUS_INTERRUPTED
    from dtq.fold.expect import evaluate, format_checks
    from dtq.log.reader import fold_written
    from dtq.render.dashboard import render_summary

    if outcome.status == STATUS_FAILED:
        # The display saw only whole batches written; show what the log itself holds
        # (a full disk keeps part of a batch), and that it is unfinished.
        state = fold_written(outcome.log_path) or state
        state.log_ended = True
    console.print(render_summary(state))
    if outcome.status == STATUS_FAILED:  # before the totals: a full disk drops a batch
        console.print(f"event log: {outcome.log_path}")
        print(f"dtq: the run failed: {outcome.error}", file=sys.stderr)
        return 1
    if state.totals() != outcome.totals:
        console.print(
            "[bold red]bug:[/] the totals folded from the event stream differ from the "
            f"scheduler's: {state.totals()} != {outcome.totals}; please report this with the log"
        )
        return 1
    console.print(f"event log: {outcome.log_path}")
    checks = evaluate(scenario.model.expect, state)
    lines = format_checks(checks)
    interrupted = outcome.status == STATUS_INTERRUPTED
    if interrupted and lines:
        # Thresholds judge a whole run: a ✓ on the part that ran would promise too much.
        console.print(f"expectations not evaluated: the run was interrupted at t={state.t:.2f}s;")
        console.print("its numbers so far:", highlight=False)
        lines = [f"{NOT_JUDGED}{line[1:]}" for line in lines]
    for line in lines:
        console.print(f"  {line}", highlight=False)
    if interrupted:
        console.print(f"interrupted: {outcome.totals['pending']} tasks still pending (in the log)")
        return 130
    return 0 if all(check.passed for check in checks) else 1


def make_console() -> Console:
    """The console the dashboard and the summary are drawn on."""
    from dtq.render.console import make_console

    return make_console()
