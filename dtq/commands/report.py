"""`dtq report LOG`: the metrics of one run, as text, JSON or markdown."""

from __future__ import annotations

import argparse
import sys

import orjson
from rich.console import Console

from dtq.commands.common import resolve_log
from dtq.commands.output import add_format_options, output_stream, page_path, write_page
from dtq.log.reader import fold_log
from dtq.render.report import build_report, missing_events, render_markdown, render_text


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dtq report` to the command line."""
    parser = subparsers.add_parser(
        "report",
        help="metrics of one run: waits per priority and type, retries, DLQ, workers",
        description=(
            "Metrics of one run from its event log: per priority and per task type counts, "
            "wait p50/p95/p99/max, retries and the DLQ; per worker utilisation; throughput."
        ),
    )
    parser.add_argument(
        "log", metavar="LOG", help="event log (.jsonl), or a scenario name for its newest log"
    )
    add_format_options(parser, json_doc="docs/report-json.md", page="of charts")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Fold the log and print its report; 2 (via LogFormatError) for an unreadable log."""
    if args.format == "html":
        return _html(args)
    state, reader = fold_log(resolve_log(args.log))
    missing = missing_events(state)
    for warning in [*reader.warnings, *([missing] if missing else [])]:
        print(f"dtq: warning: {warning}", file=sys.stderr)
    report = build_report(state, warnings=reader.warnings)
    with output_stream(args.output) as out:
        if args.format == "json":
            out.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
        elif args.format == "markdown":
            out.write(render_markdown(report))
        else:
            Console(file=out).print(render_text(report))
    return 0


def _html(args: argparse.Namespace) -> int:
    """The report as a self-contained page of charts, folded in one pass with its series."""
    path = page_path(args.output, example="report.html")
    from dtq.render.html.run import render_run_html
    from dtq.render.html.series import fold_series

    state, reader = fold_series(resolve_log(args.log))
    for warning in reader.warnings:
        print(f"dtq: warning: {warning}", file=sys.stderr)
    write_page(path, render_run_html(state, warnings=reader.warnings))
    return 0
