"""`dtq replay LOG`: replay a saved event log as the live dashboard, paced by event time."""

from __future__ import annotations

import argparse
import sys

from dtq.commands.common import duration_arg, resolve_log

TIME_HELP = "a time like 2s, 250ms or 1.5m (a bare number is seconds)"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dtq replay` to the command line."""
    parser = subparsers.add_parser(
        "replay",
        help="replay an event log as the dashboard",
        description=(
            "Replay a saved event log as the live dashboard, paced by the events' time. "
            "LOG is a log's path, or a scenario's name for its newest log in logs/ "
            "(`dtq replay burst`). On a terminal: space pauses, + and - change the speed, "
            ". steps one event while paused, left and right arrows move 5 seconds back and "
            "forth, g and G go to the start and the end, q quits. At the end the last frame "
            "and the summary stay until q; piped, the summary is printed."
        ),
    )
    parser.add_argument(
        "log", metavar="LOG", help="event log (.jsonl), or a scenario name for its newest log"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="X times faster than the run, 1/64 to 1024 (default 1)",
    )
    add_time_arguments(parser)
    parser.add_argument(
        "--final", action="store_true", help="print the last frame at once, no pacing"
    )
    parser.add_argument(
        "--plain", action="store_true", help="progress lines and a summary, no dashboard"
    )
    parser.add_argument(
        "--refresh", type=float, default=4.0, metavar="N", help="dashboard frames per second"
    )
    parser.set_defaults(handler=handle)


def add_time_arguments(parser: argparse.ArgumentParser) -> None:
    """--idle-limit, --start-at and --until: times with units, as scenarios write them."""
    parser.add_argument(
        "--idle-limit",
        type=duration_arg,
        default=2.0,
        metavar="S",
        help=f"never wait longer than S between two events: {TIME_HELP} (default 2s)",
    )
    parser.add_argument(
        "--start-at",
        type=duration_arg,
        metavar="T",
        help=f"jump to event time T, then pace: {TIME_HELP}",
    )
    parser.add_argument(
        "--until",
        type=duration_arg,
        metavar="T",
        help=f"stop after the last event at or before T: {TIME_HELP}",
    )


def handle(args: argparse.Namespace) -> int:
    """Replay the log; 0 when done or quit, 2 (via LogFormatError) for an unreadable log."""
    from dtq.render.console import make_console
    from dtq.render.replay import ReplayOptions, replay

    options = ReplayOptions(
        path=resolve_log(args.log),
        speed=args.speed,
        idle_limit_s=args.idle_limit,
        start_at=args.start_at,
        until=args.until,
        final=args.final,
        plain=args.plain,
        refresh_per_second=args.refresh,
    )
    replay(options, console=make_console(), stdin=sys.stdin)
    return 0
