"""What several commands take the same way: times with units, and a log named by scenario."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from dtq.errors import UsageError

LOGS_FOLDER = Path("logs")
# `logs/<scenario>-<UTC stamp>.jsonl`, as `dtq run` names its logs by default.
_STAMPED = r"-\d{8}T\d{6}\.\d{3}Z"


def duration_arg(text: str) -> float:
    """A time flag's value in seconds: `2s`, `250ms`, `1.5m` as in scenarios; a bare number
    is seconds."""
    from dtq.durations import parse_duration

    try:
        return float(text) if _is_number(text) else parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def resolve_log(text: str, *, folder: Path = LOGS_FOLDER) -> Path:
    """The log `text` names: a path as given, or a scenario name for its newest log in
    `folder` (`<name>-<stamp>.jsonl` as dtq run names them, or `<name>.jsonl`)."""
    path = Path(text)
    if path.exists() or not re.fullmatch(r"[\w.-]+", text) or text.endswith(".jsonl"):
        return path
    pattern = re.compile(re.escape(text) + f"({_STAMPED})?" + r"\.jsonl")
    try:
        logs = [p for p in folder.iterdir() if pattern.fullmatch(p.name) and p.is_file()]
    except OSError:
        logs = []
    if not logs:
        raise UsageError(
            f"{text}: no such file, and {folder}/ holds no log of a scenario named {text!r}; "
            f"give the path of a .jsonl log, or run the scenario first (dtq run SCENARIO)"
        )
    newest = max(logs, key=lambda p: (p.stat().st_mtime, p.name))
    count = f"the newest of {len(logs)}" if len(logs) > 1 else "the only one"
    print(f"dtq: {text}: {newest} ({count} in {folder}/)", file=sys.stderr)
    return newest
