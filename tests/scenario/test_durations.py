"""The scenario's Duration type: a unit in the file, a plain number only in resolved data."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from dtq.scenario.durations import SECONDS_CONTEXT, Duration


def test_seconds_context_accepts_numbers() -> None:
    """A resolved scenario (seconds as numbers) validates under SECONDS_CONTEXT only."""
    adapter: TypeAdapter[float] = TypeAdapter(Duration)
    assert adapter.validate_python(0.25, context=SECONDS_CONTEXT) == 0.25
    with pytest.raises(ValidationError):
        adapter.validate_python(0.25)
    with pytest.raises(ValidationError):
        adapter.validate_python(-1.0, context=SECONDS_CONTEXT)
