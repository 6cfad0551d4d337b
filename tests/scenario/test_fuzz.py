"""Whatever the file holds, loading gives a model or located problems, never another error."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtq.errors import ScenarioError
from dtq.scenario import Scenario, validate_text

PROBLEM_LINE = re.compile(r"^.+:\d+:\d+: [^:]*: .+$")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID: dict[str, Any] = {
    "name": "fuzz",
    "seed": 1,
    "workers": 4,
    "scheduler": {"policy": "aging", "aging_interval": "1s"},
    "retry": {"max_attempts": 3, "base_delay": "10ms", "retry_on": ["network"]},
    "task_types": {
        "email": {
            "priority": 2,
            "duration": {"dist": "uniform", "low": "1ms", "high": "5ms"},
            "timeout": "1s",
            "failures": {"network": 0.1},
        },
        "report": {"priority": 8, "duration": {"dist": "lognormal", "median": "2ms", "sigma": 1}},
    },
    "arrivals": [
        {"task": "email", "pattern": "poisson", "rate": 10, "from": "0s", "until": "2s"},
        {"task": "report", "pattern": "burst", "count": 5, "at": "1s"},
        {"task": "email", "pattern": "ramp", "start_rate": 1, "end_rate": 5, "until": "1s"},
    ],
    "faults": [
        {"kind": "outage", "from": "0s", "until": "1s", "error": "network", "rate": 0.5},
        {"kind": "worker_crash", "at": "1s", "workers": 2},
    ],
    "expect": {"dlq_max": 3, "wait_p95": {2: "50ms"}},
}

KEYS = sorted({"task_types", "arrivals", "priority", "rate", "from", "until", "dist", "pattern"})
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["250ms", "2s", "5sec", "email", "poisson", "burst", "exponential"])
)
keys = st.text(max_size=12) | st.sampled_from(KEYS) | st.integers(-3, 12)
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)


def assert_loads_or_locates(text: str) -> None:
    """validate_text returns a Scenario, or a ScenarioError of well-formed lines only."""
    try:
        model = validate_text(text, source="fuzz.yaml")
    except ScenarioError as exc:
        assert exc.problems, "a ScenarioError must hold at least one problem"
        for line in exc.problems:
            assert PROBLEM_LINE.match(line), line
    else:
        assert isinstance(model, Scenario)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `data` (mapping keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = list(enumerate(data))
    else:
        items = []
    for key, value in items:
        found += paths(value, (*prefix, key))
    return found


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of `data` with the value at `path` replaced."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        return {
            key: replaced(item, rest, value) if key == head else item for key, item in data.items()
        }
    return [
        replaced(item, rest, value) if index == head else item for index, item in enumerate(data)
    ]


def test_valid_base_scenario_loads() -> None:
    """The scenario the mutations start from is valid (else the mutations prove nothing)."""
    text = yaml.safe_dump(VALID, sort_keys=False)
    assert validate_text(text, source="base.yaml").name == "fuzz"


@FUZZ
@given(json_like)
def test_random_structures(data: Any) -> None:
    """Any JSON-like document, dumped as YAML, loads or gives located problems."""
    assert_loads_or_locates(yaml.safe_dump(data, allow_unicode=True))


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_mutated_scenario(draw: st.DataObject) -> None:
    """A valid scenario with one value replaced loads or gives located problems."""
    path = draw.draw(st.sampled_from(paths(VALID)))
    value = draw.draw(json_like)
    text = yaml.safe_dump(replaced(VALID, path, value), allow_unicode=True, sort_keys=False)
    assert_loads_or_locates(text)


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_random_text(text: str) -> None:
    """Arbitrary text (mostly not YAML at all) never raises anything but ScenarioError."""
    assert_loads_or_locates(text)


@pytest.mark.slow
@FUZZ
@given(st.sampled_from(paths(VALID)), st.sampled_from([math.nan, math.inf, -math.inf, 10**40]))
def test_non_finite_and_huge_numbers(path: tuple[Any, ...], number: float) -> None:
    """NaN, infinities and huge integers anywhere give located problems."""
    text = yaml.safe_dump(replaced(VALID, path, number), sort_keys=False)
    assert_loads_or_locates(text)
