"""`dtq report LOG`: the metrics of one run, as text, JSON or markdown."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from dtq.log.reader import fold
from dtq.render.report import build_report, render_markdown, render_text


def register(subparsers: Any) -> None:
    """Add `dtq report` to the command line."""
    parser = subparsers.add_parser(
        "report",
        help="metrics of one run: waits per priority and type, retries, DLQ, workers",
        description=(
            "Metrics of one run from its event log: per priority and per task type counts, "
            "wait p50/p95/p99/max, retries and the DLQ; per worker utilisation; throughput."
        ),
    )
    parser.add_argument("log", type=Path, metavar="LOG", help="event log (.jsonl)")
    parser.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="text tables (default), JSON (docs/report-json.md) or GitHub markdown",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Fold the log and print its report; 2 (via LogFormatError) for an unreadable log."""
    state, reader = fold(args.log)
    for warning in reader.warnings:
        print(f"dtq: warning: {warning}", file=sys.stderr)
    report = build_report(state, warnings=reader.warnings)
    if args.format == "json":
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(report))
    else:
        Console().print(render_text(report))
    return 0
