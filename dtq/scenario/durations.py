"""Durations written with units (`250ms`, `2s`, `1.5m`), parsed to seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, ValidationInfo, WithJsonSchema

_UNITS_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(us|µs|ms|s|m|h)\s*$")
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?|\.\d+)\s*(us|µs|ms|s|m|h)\s*$|^0$"
MAX_DURATION_S = 365 * 24 * 3600.0
SECONDS_CONTEXT: dict[str, str] = {"durations": "seconds"}
"""Validation context under which a bare number is a duration in seconds (resolved data)."""


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


def _validate_duration(value: Any, info: ValidationInfo) -> float:
    """Parse a written duration; under `SECONDS_CONTEXT` a plain number is taken as seconds."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and info.context is not None and info.context.get("durations") == "seconds":
        seconds = float(value)
        if not 0 <= seconds <= MAX_DURATION_S:
            raise ValueError(f"a duration must be between 0s and a year (got {seconds:g} seconds)")
        return seconds
    return parse_duration(value)


def format_duration(seconds: float) -> str:
    """Render seconds the way a scenario would write them (`250ms`, `2s`)."""
    if seconds == 0:
        return "0s"
    if seconds < 1e-3:
        return f"{seconds * 1e6:g}us"
    if seconds < 1:
        return f"{seconds * 1e3:g}ms"
    if seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m"


Duration = Annotated[
    float,
    BeforeValidator(_validate_duration),
    PlainSerializer(lambda s: s, return_type=float, when_used="always"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration with a unit: us, ms, s, m or h (e.g. 250ms, 2s, 1.5m).",
            "examples": ["250ms", "2s", "1.5m"],
        }
    ),
]
"""Seconds, written in the file with a unit."""
