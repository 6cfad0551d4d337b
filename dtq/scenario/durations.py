"""The scenario's `Duration` type: written with units (`250ms`, `2s`, `1.5m`), held as seconds.

The unit syntax itself (parsing and writing it) lives in `dtq.durations`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, ValidationInfo, WithJsonSchema

from dtq.durations import DURATION_PATTERN, MAX_DURATION_S, parse_duration

SECONDS_CONTEXT: dict[str, str] = {"durations": "seconds"}
"""Validation context under which a bare number is a duration in seconds (resolved data)."""


def _validate_duration(value: Any, info: ValidationInfo) -> float:
    """Parse a written duration; under `SECONDS_CONTEXT` a plain number is taken as seconds."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and info.context is not None and info.context.get("durations") == "seconds":
        seconds = float(value)
        if not 0 <= seconds <= MAX_DURATION_S:
            raise ValueError(f"a duration must be between 0s and a year (got {seconds:g} seconds)")
        return seconds
    return parse_duration(value)


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
