"""Retry keys in scenario files: presets, schedules, budgets and per-type blocks, all checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtq.cli import main
from dtq.scenario import scenario_json_schema
from dtq.scenario.compile import compile_plan
from dtq.scenario.models import Normal, Scenario

HEAD = (
    "workers: 2\n"
    "task_types:\n"
    "  email: {duration: {dist: constant, value: 10ms}, failures: {network: 0.2}}\n"
    "arrivals:\n"
    "  - {task: email, pattern: burst, count: 10}\n"
)

CASES = [
    ("preset_typo", "retry:\n  preset: sidekik\n", "7:11: retry.preset", "did you mean 'sidekiq'?"),
    (
        "ratio_out_of_range",
        "retry:\n  budget: {ratio: 2000}\n",
        "7:19: retry.budget.ratio",
        "must be at most 1,000",
    ),
    (
        "budget_window_zero",
        "retry:\n  budget: {window: 0s}\n",
        "7:20: retry.budget.window",
        "longer than 0s",
    ),
    ("jitter_typo", "retry:\n  jitter: decorelated\n", "7:11: retry.jitter", "'decorrelated'"),
    (
        "backoff_and_delays",
        "retry:\n  backoff: fixed\n  delays: [1s, 10s]\n",
        "7:12: retry.backoff",
        "give one of them",
    ),
    (
        "decorrelated_with_fixed",
        "retry:\n  backoff: fixed\n  jitter: decorrelated\n",
        "8:11: retry.jitter",
        "use it with backoff: exponential",
    ),
    (
        "multiplier_with_fixed",
        "retry:\n  backoff: fixed\n  multiplier: 3\n",
        "8:15: retry.multiplier",
        "only used with backoff: exponential",
    ),
    (
        "delays_with_a_cap",
        "retry:\n  delays: [1s, 10s]\n  max_delay: 5s\n",
        "7:3: retry",
        "not an explicit delays list",
    ),
    (
        "empty_delays",
        "retry:\n  delays: []\n",
        "7:11: retry.delays",
        "must not be empty",
    ),
    (
        "type_override_conflict",
        "retry:\n  delays: [1s]\ntask_types:\n  sms: {retry: {multiplier: 3}}\n",
        "4:9: task_types.sms.retry",
        "multiplier is only used with backoff: exponential",
    ),
    (
        "type_override_retry_on",
        "task_types:\n  sms: {failures: {network: 0.1}, retry: {retry_on: [netwrk]}}\n",
        "4:54: task_types.sms.retry.retry_on.0",
        "did you mean 'network'?",
    ),
    (
        "normal_without_sd",
        "task_types:\n  sms: {duration: {dist: normal, mean: 10ms}}\n",
        "4:19: task_types.sms.duration.sd",
        "sd",
    ),
]


@pytest.mark.parametrize(
    ("tail", "where", "keyword"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_retry_keys_are_located(
    tail: str, where: str, keyword: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every new key is checked like the rest: `file:line:col: path: message`, exit 2."""
    text = HEAD + tail
    if "task_types:\n" in tail:  # a second task type, written under the first
        first, extra = tail.split("task_types:\n", 1)
        text = HEAD.replace("arrivals:\n", extra + "arrivals:\n") + first
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = next((x for x in err.splitlines() if x.startswith(f"{path}:{where}: ")), None)
    assert line is not None, err
    assert keyword in line


def _load(scenario_retry: object, **sms: object) -> Scenario:
    return Scenario.model_validate(
        {
            "task_types": {"email": {}, "sms": sms},
            "arrivals": [{"task": "email", "pattern": "burst", "count": 1}],
            "retry": scenario_retry,
        }
    )


def test_a_type_block_overrides_the_scenarios_keys_it_names() -> None:
    """sms keeps the scenario's retry_on and max_attempts, with its own fixed backoff."""
    model = _load(
        {"max_attempts": 6, "retry_on": ["network"], "jitter": "full"},
        retry={"backoff": "fixed", "base_delay": "2s"},
    )
    plan = compile_plan(model)
    sms = plan.retry_for("sms")
    assert (sms.max_attempts, sms.backoff, sms.base_delay_s) == (6, "fixed", 2.0)
    assert sms.jitter == "full"
    assert sms.retry_on == frozenset({"network"})
    assert plan.retry_for("email") is plan.retry
    assert model.most_attempts() == 6


def test_a_type_preset_keeps_only_retry_on_and_budget_from_the_scenario() -> None:
    """preset: sidekiq on a type is Sidekiq's whole schedule, not mixed with the scenario's."""
    model = _load(
        {"max_attempts": 3, "base_delay": "1s", "retry_on": ["network"], "budget": {}},
        retry={"preset": "sidekiq"},
    )
    sms = compile_plan(model).retry_for("sms")
    assert (sms.max_attempts, sms.backoff, sms.base_delay_s) == (26, "polynomial", 15.0)
    assert sms.retry_on == frozenset({"network"})
    assert sms.budget is not None and sms.budget.owner == ""
    assert model.most_attempts() == 26


def test_unused_new_keys_stay_out_of_the_resolved_scenario() -> None:
    """A scenario without the new keys dumps exactly the keys it always did."""
    dumped = _load({}).model_dump(mode="json")
    assert set(dumped["retry"]) == {
        "max_attempts",
        "backoff",
        "base_delay",
        "max_delay",
        "jitter",
        "retry_on",
    }
    assert "retry" not in dumped["task_types"]["sms"]


def test_a_resolved_preset_validates_again_to_the_same_model() -> None:
    """run_started's resolved scenario (durations in seconds) reads back as the same policy."""
    for preset in ("sidekiq", "rq", "temporal", "celery_backoff"):
        model = _load({"preset": preset, "budget": {"ratio": 0.5}}, retry={"preset": "rq"})
        again = Scenario.model_validate(
            model.model_dump(by_alias=True), strict=True, context={"durations": "seconds"}
        )
        assert again == model


def test_normal_draws_are_reflected_and_keyed() -> None:
    """normal(mean, sd): never negative, the same for the same (task, attempt)."""
    model = _load({}, duration={"dist": "normal", "mean": "1ms", "sd": "10ms"})
    kind = compile_plan(model).kinds["sms"]
    draws = [kind.duration.sample(key, 1) for key in range(2000)]
    assert min(draws) >= 0
    assert draws == [kind.duration.sample(key, 1) for key in range(2000)]
    # |N(1ms, 10ms)| has mean about 8.0ms (sd x sqrt(2/pi) when the mean is small).
    assert sum(draws) / len(draws) == pytest.approx(0.008, rel=0.1)
    assert isinstance(model.task_types["sms"].duration, Normal)


def test_a_type_list_of_delays_drops_the_scenarios_base_and_cap() -> None:
    """The scenario's base_delay and max_delay shape its own backoff, not the type's list."""
    model = _load({"base_delay": "1s", "max_delay": "5s"}, retry={"delays": ["2s", "20s"]})
    sms = compile_plan(model).retry_for("sms")
    assert (sms.backoff, sms.delays_s) == ("delays", (2.0, 20.0))


def test_the_schema_lists_the_new_keys() -> None:
    """`dtq schema` has preset, delays, budget, the type's retry block and normal."""
    schema = scenario_json_schema()
    defs = schema["$defs"]
    retry = defs["Retry"]["properties"]
    for key in ("preset", "delays", "budget", "multiplier", "exponent", "resolution"):
        assert key in retry
    assert "sidekiq" in str(retry["preset"])
    assert "retry" in defs["TaskType"]["properties"]
    assert "Normal" in defs
