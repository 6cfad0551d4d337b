"""Parsing a sweep's axes and seeds, and validating every point before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtq.errors import ScenarioError, UsageError
from dtq.study.grid import parse_axis, parse_seeds
from dtq.study.sweep import log_name, plan_sweep


def test_values_are_a_yaml_list_and_keep_their_written_text() -> None:
    axis = parse_axis("retry.base_delay=100ms, 1s")
    assert axis.path == "retry.base_delay"
    assert axis.values == ("100ms", "1s")
    assert axis.texts == ("100ms", "1s")


def test_list_values_keep_their_brackets() -> None:
    axis = parse_axis("retry.retry_on=[network],[network, timeout]")
    assert axis.values == (["network"], ["network", "timeout"])
    assert axis.texts == ("[network]", "[network, timeout]")


@pytest.mark.parametrize(("text", "seeds"), [("3", (1, 2, 3)), ("5..7", (5, 6, 7)), ("0..0", (0,))])
def test_seeds_are_a_count_or_a_range(text: str, seeds: tuple[int, ...]) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["0", "7..5", "x", "1..", "-3"])
def test_bad_seeds_say_the_form(text: str) -> None:
    with pytest.raises(UsageError, match="--seeds"):
        parse_seeds(text)


@pytest.mark.parametrize("text", ["seed=1,2", "clock=real", "backend=memory"])
def test_settings_a_sweep_fixes_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match=f"--set {text}: "):
        parse_axis(text)


def test_a_value_listed_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="listed twice"):
        parse_axis("workers=4,4")


def test_every_point_is_validated_up_front_naming_the_bad_value(small: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        plan_sweep(small, ["workers=2,0", "retry.max_attempts=2,3"], seeds="2")
    assert caught.value.problems[0].startswith("--set workers=0: must be at least 1")


def test_a_misspelt_path_suggests_the_right_key(small: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        plan_sweep(small, ["retry.max_atempts=8"], seeds="2")
    assert caught.value.problems == [
        "--set retry.max_atempts=8: unknown key; did you mean 'max_attempts'?"
    ]


def test_a_path_given_twice_is_refused(small: Path) -> None:
    with pytest.raises(UsageError, match="given twice"):
        plan_sweep(small, ["workers=1,2", "workers=3"], seeds="2")


def test_the_plan_is_the_grid_times_the_seeds_on_the_virtual_clock(small: Path) -> None:
    plan = plan_sweep(small, ["workers=2,4", "retry.max_attempts=1,2,3"], seeds="4..5")
    assert plan.runs == 12
    assert [point.label() for point in plan.points][:2] == [
        "workers=2 retry.max_attempts=1",
        "workers=2 retry.max_attempts=2",
    ]
    assert all(point.scenario.model.clock == "virtual" for point in plan.points)
    assert (
        log_name(plan.name, plan.points[1], 5)
        == "small__workers=2__retry.max_attempts=2__seed=5.jsonl"
    )
