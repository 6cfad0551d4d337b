"""Durations as text: the scenario's unit syntax (read and written) and the display for people."""

from __future__ import annotations

import math

import pytest

from dtq.durations import display_delay, display_duration, format_duration, parse_duration


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


@pytest.mark.parametrize("seconds", [0.0, 250e-6, 0.25, 2.0, 90.0, 7200.0])
def test_format_round_trips(seconds: float) -> None:
    """format_duration writes what parse_duration reads back."""
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0, "0ms"),
        (0.00169312, "1.69ms"),
        (0.00255, "2.55ms"),
        (0.0123, "12.3ms"),
        (0.85, "850ms"),
        (0.9996, "1.00s"),
        (2.345, "2.35s"),
        (2.41283, "2.41s"),
        (12.34, "12.3s"),
        (125.0, "2m05s"),
    ],
)
def test_a_measured_duration_shows_three_significant_digits(seconds: float, shown: str) -> None:
    """Below a minute three significant digits, in ms below a second; then minutes."""
    assert display_duration(seconds) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"), [(59.96, "1m00s"), (119.7, "2m00s"), (1234.0, "20m34s")]
)
def test_minutes_are_rounded_to_the_second(seconds: float, shown: str) -> None:
    """59.96s is a minute (not `0m59s`), and a long time never turns into `1.23e+03s`."""
    assert display_duration(seconds) == shown


def test_signs_and_infinity_are_shown_plainly() -> None:
    """A negative duration keeps its digits; times past any clock (a damaged log) are inf."""
    assert display_duration(-0.0123) == "-12.3ms"
    assert display_duration(math.inf) == "inf"
    assert display_duration(-math.inf) == "-inf"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0, "0s"),
        (0.25, "250ms"),
        (42.0, "42s"),
        (450.0, "7.5m"),
        (11_520.0, "3.2h"),
        (1_763_395.0, "20.41d"),
    ],
)
def test_a_planned_delay_is_shown_in_the_largest_unit_that_fits(seconds: float, shown: str) -> None:
    """A retry schedule spans milliseconds to weeks: hours and days, not 29390m."""
    assert display_delay(seconds) == shown
