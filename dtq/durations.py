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
- **A planned delay** (`display_delay`): three significant digits in the largest unit that
  fits, up to days, `250ms`, `42s`, `7.5m`, `3.2h`, `20.41d`: a retry schedule runs from
  milliseconds to weeks, where minutes and seconds would be unreadable.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

_UNITS_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(us|µs|ms|s|m|h)\s*$")
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?|\.\d+)\s*(us|µs|ms|s|m|h)\s*$|^0$"
MAX_DURATION_S = 365 * 24 * 3600.0
DAY_S: Final = 86_400.0

_Step = tuple[float, float, str, str]
"""(unit_s, limit, spec, suffix): a duration under `limit` units of `unit_s` seconds is
written in that unit with the format `spec`, then `suffix`."""
_MEASURED: Final[tuple[_Step, ...]] = (
    (1e-3, 999.5, ".3g", "ms"),
    (1.0, 9.995, ".2f", "s"),
    (1.0, 59.95, ".1f", "s"),
)
_DELAY: Final[tuple[_Step, ...]] = (
    (1e-3, 1000.0, ".3g", "ms"),
    (1.0, 120.0, ".3g", "s"),
    (60.0, 120.0, ".3g", "m"),
    (3600.0, 48.0, ".3g", "h"),
    (DAY_S, math.inf, ".2f", "d"),
)


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
    shown = _in_steps(seconds, _MEASURED)
    if shown is not None:
        return shown
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def display_delay(seconds: float) -> str:
    """A planned delay, which may run to days: `250ms`, `42s`, `7.5m`, `3.2h`, `20.41d`."""
    if seconds == 0:
        return "0s"
    return _in_steps(seconds, _DELAY) or display_duration(seconds)  # inf, nan


def _in_steps(seconds: float, steps: tuple[_Step, ...]) -> str | None:
    """The duration in the first step it is below (None: above them all)."""
    for unit_s, limit, spec, suffix in steps:
        # Milliseconds by multiplying: seconds / 1e-3 can differ in the last bit.
        value = seconds * 1000 if unit_s == 1e-3 else seconds / unit_s
        if value < limit:
            return f"{value:{spec}}{suffix}"
    return None
