"""`dtq validate SCENARIO ...`: check scenario files and report every problem, located."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from dtq.errors import ScenarioError, UsageError
from dtq.scenario import load_scenario
from dtq.scenario.overrides import SET_HELP, Override, parse_overrides
from dtq.scenario.references import estimate_tasks


def register(subparsers: Any) -> None:
    """Add `dtq validate` to the command line."""
    parser = subparsers.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Check scenario files: every problem as file:line:col: path: message.",
    )
    parser.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario file (YAML)")
    parser.add_argument("--set", action="append", metavar="PATH=VALUE", help=SET_HELP)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Check each file; exit 0 if all are good, else 2."""
    overrides = parse_overrides(args.set)
    results = [check_file(path, overrides=overrides) for path in args.scenarios]
    return 0 if all(results) else 2


def check_file(path: str, *, overrides: Sequence[Override] = ()) -> bool:
    """Print `ok ...` for a good file or its problems (stderr) for a bad one; True if good."""
    try:
        loaded = load_scenario(path, overrides=overrides)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return False
    except UsageError as exc:
        print(f"dtq: {exc}", file=sys.stderr)
        return False
    model = loaded.model
    counts = (
        f"{_count(len(model.task_types), 'task type')}, "
        f"{_count(len(model.arrivals), 'arrival')}, ~{estimate_tasks(model):,} tasks"
    )
    print(f"ok  {path} ({counts})")
    return True


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
