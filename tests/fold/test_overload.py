"""What dependencies did, as the reducer, verify and expectations read it from real runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from dtq.engine import runner
from dtq.fold.expect import evaluate
from dtq.fold.metrics import peak_amplification, recovery_s
from dtq.fold.state import fold_events
from dtq.log.verify import verify_log
from dtq.scenario import load_scenario
from dtq.scenario.durations import SECONDS_CONTEXT
from dtq.scenario.models import Expect
from tests.helpers import SCENARIOS_DIR, run_virtual


def metastable(trigger_until_s: float) -> Any:
    """metastable.yaml with its slowdown ending at `trigger_until_s`."""
    model = load_scenario(SCENARIOS_DIR / "metastable.yaml").model
    data = model.model_dump(by_alias=True)
    data["faults"][0]["until"] = trigger_until_s
    return type(model).model_validate(data, context=SECONDS_CONTEXT)


@pytest.fixture(scope="module")
def short_and_long() -> tuple[Any, Any]:
    """The folded states of a 1 s trigger (recovered) and a 4 s one (metastable)."""
    return tuple(fold_events(run_virtual(metastable(t))[1]) for t in (11.0, 14.0))  # type: ignore[return-value]


def test_a_short_trigger_recovers_and_a_long_one_never_does(short_and_long: Any) -> None:
    short, long = short_and_long
    recovered = recovery_s(short)
    assert recovered is not None and recovered < 5.0
    assert recovery_s(long) == math.inf
    assert peak_amplification(long) > 3.5 > 1.5 > peak_amplification(short)


def test_the_dependency_is_folded_with_its_peaks_and_outcomes(short_and_long: Any) -> None:
    short, long = short_and_long
    db = long.dependencies.by_name["db"]
    assert db.peak_in_flight == 10  # never more than its slots
    assert db.peak_line > 100
    assert db.outcomes["abandoned"] > 0 and db.outcomes["ok"] > 0
    assert db.started == sum(db.outcomes.values())
    assert short.dependencies.by_name["db"].outcomes.get("abandoned", 0) < db.outcomes["abandoned"]


def test_expectations_of_recovery_and_amplification(short_and_long: Any) -> None:
    short, long = short_and_long
    expect = Expect.model_validate(
        {"recover_within": "5s", "amplification_max": 2.0, "dlq_max": {"exhausted": 0}}
    )
    assert [c.passed for c in evaluate(expect, short)] == [True, True, True]
    failed = evaluate(expect, long)
    assert [c.passed for c in failed] == [False, False, False]
    assert failed[1].observed == "never recovered" or "never" in failed[1].observed


@pytest.mark.slow
def test_verify_proves_the_slots_were_never_exceeded(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    loaded = load_scenario(SCENARIOS_DIR / "metastable.yaml")
    status = runner.run(loaded, log_path=log, observers=[])
    assert status.status == "completed"
    assert verify_log(log).is_valid
    lines = log.read_bytes().splitlines()
    for index, line in enumerate(lines):
        event = orjson.loads(line)
        if event["event"] == "call_started":
            event["in_flight"] = 11
            lines[index] = orjson.dumps(event)
            break
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"\n".join(lines) + b"\n")
    verdict = verify_log(broken)
    assert not verdict.is_valid
    assert "db serves 11 calls at once; its limit now is 10" in verdict.violations[0].message


def test_verify_counts_the_calls_in_service_from_the_log_itself(tmp_path: Path) -> None:
    """A call ended twice, or never: verify counts from call_started and call_ended, and
    does not have to trust the engine's `in_flight`."""
    path = tmp_path / "two.yaml"
    path.write_text(
        "name: two\nclock: virtual\nworkers: 8\n"
        "dependencies:\n  db: {concurrency: 2, latency: 10ms}\n"
        "task_types:\n  job: {priority: 1, steps: [{call: db}]}\n"
        "arrivals:\n  - {pattern: burst, task: job, count: 8}\n"
    )
    log = tmp_path / "run.jsonl"
    assert runner.run(load_scenario(path), log_path=log, observers=[]).status == "completed"
    assert verify_log(log).is_valid
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]

    def write(name: str, kept: list[dict[str, Any]]) -> Path:
        for seq, event in enumerate(kept, start=1):
            event["seq"] = seq
        path = tmp_path / name
        path.write_bytes(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in kept))
        return path

    first_end = next(i for i, e in enumerate(events) if e["event"] == "call_ended")
    twice = write(
        "twice.jsonl", [*events[: first_end + 1], dict(events[first_end]), *events[first_end + 1 :]]
    )
    messages = [v.message for v in verify_log(twice).violations]
    assert any("which was not in service (never started, or ended already)" in m for m in messages)
    never = write("never.jsonl", [e for e in events if e["event"] != "call_ended"])
    messages = [v.message for v in verify_log(never).violations]
    assert any(m.startswith("db serves 3 calls at once; its limit now is 2") for m in messages), (
        messages[:3]
    )


def test_a_stepped_scenario_runs_on_the_real_clock_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "real.yaml"
    path.write_text(
        "name: real\nclock: real\ntime_scale: 20\nworkers: 8\n"
        "dependencies:\n  db: {concurrency: 2, latency: 10ms, queue_limit: 5}\n"
        "retry: {max_attempts: 2, backoff: none}\n"
        "task_types:\n  job: {priority: 1, steps: [{work: 1ms}, {call: db}], timeout: 40ms}\n"
        "arrivals:\n  - {pattern: poisson, task: job, rate: 200, from: 0s, until: 2s}\n"
    )
    log = tmp_path / "real.jsonl"
    result = runner.run(load_scenario(path), log_path=log, observers=[])
    assert result.status == "completed"
    verdict = verify_log(log)
    assert verdict.is_valid, verdict.violations[:3]
    state = fold_events(orjson.loads(line) for line in log.read_bytes().splitlines())
    assert state.dependencies.by_name["db"].peak_in_flight <= 2
    assert state.totals()["pending"] == 0


def test_a_slowdown_in_force_scales_the_slots_the_dashboard_shows(tmp_path: Path) -> None:
    from dtq.fold.metrics import dependency_slots

    log = tmp_path / "run.jsonl"
    runner.run(load_scenario(SCENARIOS_DIR / "metastable.yaml"), log_path=log)
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    during = fold_events(e for e in events if e["t"] < 12.0)
    after = fold_events(e for e in events if e["t"] < 16.0)
    assert dependency_slots(during, "db") == 2  # 10 slots at capacity 0.2
    assert dependency_slots(after, "db") == 10
    assert dependency_slots(after, "nothing") is None


def test_a_wrong_dlq_cap_is_named_at_its_place_without_union_names(tmp_path: Path) -> None:
    from dtq.errors import ScenarioError

    path = tmp_path / "cap.yaml"
    path.write_text(
        "task_types: {a: {priority: 1}}\narrivals: [{pattern: burst, task: a, count: 1}]\n"
        "expect:\n  dlq_max: {exhausted: -1}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).endswith("expect.dlq_max.exhausted: must be at least 0 (got -1)")


def test_huge_times_from_a_damaged_log_give_infinity_not_an_error() -> None:
    from dtq.durations import display_duration
    from dtq.fold.state import mean_of

    assert mean_of([1.7e308, 1.7e308]) == math.inf
    assert mean_of([1.0, 2.0]) == 1.5
    assert display_duration(math.inf) == "inf"
    assert display_duration(125.0) == "2m05s"
