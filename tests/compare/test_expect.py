"""Expectations: one k6-style line per threshold, judged by the same code for run and check."""

from __future__ import annotations

import pytest

from dtq.errors import ScenarioError
from dtq.fold.expect import Check, evaluate, format_checks
from dtq.fold.state import fold_events
from dtq.scenario import validate_text
from tests.helpers import run_virtual, scenario


def test_each_threshold_is_one_line_with_the_observed_value_beside_the_limit() -> None:
    checks = [
        Check("dlq_max", "12", "<= 200", True),
        Check("wait_p95[P1]", "130ms", "<= 100ms", False),
    ]
    assert format_checks(checks) == [
        "✓ dlq_max........: 12 (limit <= 200)",
        "✗ wait_p95[P1]...: 130ms (limit <= 100ms)",
    ]
    assert checks[1].line() == "✗ wait_p95[P1]: 130ms (limit <= 100ms)"


def test_thresholds_are_judged_against_the_folded_run() -> None:
    model = scenario(
        retry={"max_attempts": 1},
        task_types={
            "job": {
                "priority": 5,
                "duration": {"dist": "constant", "value": "10ms"},
                "failures": {"bad_input": 0.5},
            }
        },
        arrivals=[{"pattern": "burst", "task": "job", "count": 40}],
        expect={"dlq_max": 1, "wait_p95": {5: "1s"}, "completed_min": 0.1},
    )
    _, events, totals = run_virtual(model)
    checks = {check.name: check for check in evaluate(model.expect, fold_events(events))}
    assert checks["dlq_max"].observed == str(totals["dead_lettered"])
    assert not checks["dlq_max"].passed  # half of 40 tasks fail for good
    assert checks["wait_p95[P5]"].passed  # 40 x 10ms on 2 workers: 200ms at most
    assert checks["completed_min"].passed
    tight = model.expect.model_copy(update={"wait_p95": {5: 0.05}, "completed_min": 0.9})
    names = [check.name for check in evaluate(tight, fold_events(events)) if not check.passed]
    assert names == ["dlq_max", "wait_p95[P5]", "completed_min"]


def test_a_threshold_with_no_data_fails() -> None:
    model = scenario(expect={"wait_p95": {5: "1s"}})
    (check,) = evaluate(model.expect, fold_events([]))
    assert not check.passed
    assert check.observed == "no P5 task started"


def test_an_expectation_on_a_priority_no_task_type_has_is_rejected_at_load() -> None:
    text = """\
task_types:
  job: {priority: 5, duration: {dist: constant, value: 10ms}}
arrivals:
  - {pattern: burst, task: job, count: 1}
expect:
  wait_p95: {1: 50ms}
"""
    with pytest.raises(ScenarioError) as caught:
        validate_text(text, source="x.yaml")
    assert "x.yaml:6:14: expect.wait_p95.1: no task type has priority 1; known: 5" in str(
        caught.value
    )
