"""Durations are written with a unit and read as seconds."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from dtq.scenario.durations import SECONDS_CONTEXT, Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250us", 250e-6),
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1.5m", 90.0),
        ("2h", 7200.0),
        (".5s", 0.5),
        (" 3 ms ", 0.003),
        ("0s", 0.0),
    ],
)
def test_units_give_seconds(text: str, seconds: float) -> None:
    """Each unit scales the number to seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


def test_zero_needs_no_unit() -> None:
    """The bare number 0 is the one duration that needs no unit."""
    assert parse_duration(0) == 0.0


@pytest.mark.parametrize("value", [5, 1.5, -1])
def test_bare_numbers_are_rejected(value: float) -> None:
    """A bare number is ambiguous (seconds? milliseconds?) and says how to write it."""
    with pytest.raises(ValueError, match="needs a unit"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_rejected(value: bool) -> None:
    """`true` is not a duration, even though Python counts it as 1."""
    with pytest.raises(ValueError, match="written with a unit"):
        parse_duration(value)


@pytest.mark.parametrize("text", ["5sec", "5", "-1s", "1e3s", "ms", "2 days", ""])
def test_malformed_text_is_rejected(text: str) -> None:
    """Anything but a number and one of us, ms, s, m, h is not a duration."""
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_more_than_a_year_is_rejected() -> None:
    """dtq does not simulate past a year."""
    with pytest.raises(ValueError, match="longer than a year"):
        parse_duration("9000h")


def test_seconds_context_accepts_numbers() -> None:
    """A resolved scenario (seconds as numbers) validates under SECONDS_CONTEXT only."""
    adapter: TypeAdapter[float] = TypeAdapter(Duration)
    assert adapter.validate_python(0.25, context=SECONDS_CONTEXT) == 0.25
    with pytest.raises(ValidationError):
        adapter.validate_python(0.25)
    with pytest.raises(ValidationError):
        adapter.validate_python(-1.0, context=SECONDS_CONTEXT)


@pytest.mark.parametrize("seconds", [0.0, 250e-6, 0.25, 2.0, 90.0, 7200.0])
def test_format_round_trips(seconds: float) -> None:
    """format_duration writes what parse_duration reads back."""
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
