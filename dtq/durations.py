"""Durations as text, in the two styles dtq writes them.

- **As a scenario writes them** (`parse_duration`, `format_duration`): a number and a unit,
  `250ms`, `2s`, `1.5m`. `format_duration` writes what `parse_duration` reads back, so a
  limit or setting the user wrote (an `expect:` limit, a resolved default) is shown in the
  user's own syntax.
- **As measured, for people** (`display_duration`): three significant digits, `2.55ms`,
  `850ms`, `2.35s`, `12.3s`, then minutes and seconds, `4m05s`. Every measured duration
  (a wait, a run's length, a recovery time) is shown this way, on the dashboard, in the
  report, the expectation lines, diff, sweep and the HTML pages, so one number reads the
  same wherever it appears.
"""

from __future__ import annotations

import math
import re
from typing import Any

_UNITS_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(us|µs|ms|s|m|h)\s*$")
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?|\.\d+)\s*(us|µs|ms|s|m|h)\s*$|^0$"
MAX_DURATION_S = 365 * 24 * 3600.0


def parse_duration(value: Any) -> float:
    """Turn `250ms` / `2s` / `1.5m` / `1h` (or the number 0) into seconds."""
    if isinstance(value, bool):
        raise ValueError(f"a duration is written with a unit, like 250ms or 2s (got {value!r})")
    if isinstance(value, int | float):
        if value == 0:
            return 0.0
        raise ValueError(
            f"a duration needs a unit: write {value}s or {value}ms, not the bare number {value}"
        )
    if not isinstance(value, str):
        raise ValueError(
            f"a duration is a string with a unit, like 250ms or 2s (got {type(value).__name__})"
        )
    match = _PATTERN.match(value)
    if match is None:
        raise ValueError(
            f"{value!r} is not a duration: write a number and one of the units us, ms, s, m, h "
            "(for example 250ms, 2s, 1.5m)"
        )
    seconds = float(match.group(1)) * _UNITS_S[match.group(2)]
    if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
        raise ValueError(f"{value!r} is longer than a year; dtq does not simulate that far")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds the way a scenario would write them (`250ms`, `2s`, `1.5m`): exact, so
    `parse_duration` reads back the same number."""
    if seconds == 0:
        return "0s"
    if seconds < 1e-3:
        return f"{seconds * 1e6:g}us"
    if seconds < 1:
        return f"{seconds * 1e3:g}ms"
    if seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m"


def display_duration(seconds: float) -> str:
    """A measured duration for people: `2.55ms`, `850ms`, `2.35s`, `12.3s`, `4m05s` (three
    significant digits below a minute); `inf` past any clock (a damaged log's times)."""
    if not math.isfinite(seconds):
        return "inf" if seconds > 0 else "-inf" if seconds < 0 else "nan"
    if seconds < 0:
        return "-" + display_duration(-seconds)
    milliseconds = seconds * 1000
    if milliseconds < 999.5:
        return f"{milliseconds:.3g}ms"
    if seconds < 9.995:
        return f"{seconds:.2f}s"
    if seconds < 59.95:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"
