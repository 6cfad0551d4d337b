"""`dtq check [SCENARIO ...]`: hold every scenario to its committed baseline and expectations."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from dtq.compare.baseline import DEFAULT_BASELINES
from dtq.compare.check import check_scenarios, default_scenarios
from dtq.errors import UsageError
from dtq.render.check import markdown_summary, text_lines
from dtq.scenario.overrides import SET_HELP, parse_overrides

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def register(subparsers: Any) -> None:
    """Add `dtq check` to the command line."""
    parser = subparsers.add_parser(
        "check",
        help="run scenarios on the virtual clock; compare DLQ and expectations with baselines",
        description=(
            "Run each scenario (default: every scenarios/*.yaml) on the virtual clock, compare "
            "its DLQ and totals with baselines/<name>.json and check its expect: thresholds. "
            f"With ${STEP_SUMMARY} set (GitHub Actions), a markdown summary is appended to it."
        ),
    )
    parser.add_argument(
        "scenarios", nargs="*", type=Path, metavar="SCENARIO", help="scenario files to check"
    )
    parser.add_argument(
        "--update", action="store_true", help="rewrite the baselines from these runs"
    )
    parser.add_argument("--set", action="append", metavar="PATH=VALUE", help=SET_HELP)
    parser.add_argument(
        "--baselines",
        type=Path,
        default=DEFAULT_BASELINES,
        metavar="DIR",
        help="the baselines folder (default: baselines)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "markdown"),
        default="text",
        help="a ✓/✗ line per scenario (default) or the markdown summary",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Check, print, append the step summary; 0 all good, 1 a failure, 2 a bad scenario."""
    if args.set and args.update:
        raise UsageError(
            "--set with --update would write baselines of a changed scenario; "
            "change the scenario file instead, or drop --update to compare the change"
        )
    every_scenario = not args.scenarios
    paths = default_scenarios() if every_scenario else args.scenarios
    run = check_scenarios(
        paths,
        baselines=args.baselines,
        update=args.update,
        every_scenario=every_scenario,
        overrides=parse_overrides(args.set),
    )
    summary = markdown_summary(run)
    if args.format == "markdown":
        sys.stdout.write(summary)
    else:
        sys.stdout.write("\n".join(text_lines(run)) + "\n")
    append_step_summary(summary)
    return run.exit_code


def append_step_summary(markdown: str) -> None:
    """Append `markdown` to $GITHUB_STEP_SUMMARY when it is set; a failure is only a warning."""
    target = os.environ.get(STEP_SUMMARY)
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    except OSError as exc:
        print(
            f"dtq: warning: cannot append the summary to ${STEP_SUMMARY} ({target}): "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
