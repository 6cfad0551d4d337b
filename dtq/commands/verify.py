"""`dtq verify LOG`: check a log's invariants and name the first violation with its line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dtq verify` to the command line."""
    parser = subparsers.add_parser(
        "verify",
        help="check an event log's invariants",
        description=(
            "Check an event log against dtq's invariants: run_started first and run_finished "
            "last, gapless seq, each task's lifecycle in order, attempts within max_attempts, "
            "no task on two workers at once, every task ended once (or pending), and the "
            "folded log equal to run_finished's totals. Exit 0 valid, 1 a violation or an "
            "unfinished log, 2 unreadable."
        ),
    )
    parser.add_argument("log", type=Path, metavar="LOG", help="event log (.jsonl)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Verify the log and print the verdict; 2 (via LogFormatError) for an unreadable log."""
    from dtq.log.verify import verdict_lines, verify_log

    verdict = verify_log(args.log)
    for line in verdict_lines(verdict):
        print(line)
    sys.stdout.flush()
    return verdict.exit_code()
