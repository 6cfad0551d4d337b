"""`dtq replay LOG`: replay a saved event log as the live dashboard, paced by event time."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from dtq.render.replay import ReplayOptions, replay


def register(subparsers: Any) -> None:
    """Add `dtq replay` to the command line."""
    parser = subparsers.add_parser(
        "replay",
        help="replay an event log as the dashboard",
        description=(
            "Replay a saved event log as the live dashboard, paced by the events' time. "
            "On a terminal: space pauses, + and - change the speed, . steps one event while "
            "paused, q quits."
        ),
    )
    parser.add_argument("log", type=Path, metavar="LOG", help="event log (.jsonl) to replay")
    parser.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="X times faster than the run"
    )
    parser.add_argument(
        "--idle-limit",
        type=float,
        default=2.0,
        metavar="S",
        help="never wait more than S seconds between two events (default 2)",
    )
    parser.add_argument(
        "--start-at", type=float, metavar="T", help="jump to event time T, then pace"
    )
    parser.add_argument(
        "--until", type=float, metavar="T", help="stop after the last event at or before T"
    )
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


def handle(args: argparse.Namespace) -> int:
    """Replay the log; 0 when done or quit, 2 (via LogFormatError) for an unreadable log."""
    options = ReplayOptions(
        path=args.log,
        speed=args.speed,
        idle_limit_s=args.idle_limit,
        start_at=args.start_at,
        until=args.until,
        final=args.final,
        plain=args.plain,
        refresh_per_second=args.refresh,
    )
    replay(options, console=Console(), stdin=sys.stdin)
    return 0
