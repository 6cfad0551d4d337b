"""The `dtq` command line: one subcommand per module in `dtq.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from dtq import __version__
from dtq.errors import DtqError

# Each module defines `register(subparsers)`, which adds its parser and sets
# `handler=<callable(args) -> int>` as a default.
COMMAND_MODULES = (
    "dtq.commands.run",
    "dtq.commands.validate",
    "dtq.commands.schema",
    "dtq.commands.replay",
    "dtq.commands.report",
    "dtq.commands.diff",
    "dtq.commands.check",
    "dtq.commands.verify",
    "dtq.commands.worker",
    "dtq.commands.retries",
    "dtq.commands.sweep",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every subcommand included."""
    parser = argparse.ArgumentParser(
        prog="dtq",
        description="Run job-queue scenarios on a priority scheduler and see what the queue does.",
    )
    parser.add_argument("--version", action="version", version=f"dtq {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, dispatch, and turn user errors into messages and exit codes (never a traceback)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except DtqError as exc:
        print(f"dtq: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dtq: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return code
