"""`dtq schema`: print the JSON Schema of scenario files (for editor completion)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dtq.scenario import scenario_json_schema


def register(subparsers: Any) -> None:
    """Add `dtq schema` to the command line."""
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of scenario files",
        description="Print the JSON Schema of scenario files, for editor completion.",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Print the schema, indented, to stdout."""
    print(json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False))
    return 0
