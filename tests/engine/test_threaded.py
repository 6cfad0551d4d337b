"""The threaded engine: real threads, same outcomes as the core decides, nothing lost."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from dtq.core.task import Attempt
from dtq.engine import runner
from dtq.scenario import LoadedScenario, load_scenario

BASE: dict[str, Any] = {
    "name": "t",
    "seed": 42,
    "clock": "real",
    "time_scale": 50,
    "workers": 4,
    "retry": {
        "max_attempts": 3,
        "backoff": "exponential",
        "base_delay": "10ms",
        "jitter": "full",
        "retry_on": ["network"],
    },
    "task_types": {
        "fast": {
            "priority": 1,
            "duration": {"dist": "exponential", "mean": "5ms"},
            "failures": {"network": 0.3, "bad_input": 0.05},
        },
        "slow": {
            "priority": 7,
            "duration": {"dist": "uniform", "low": "5ms", "high": "20ms"},
            "failures": {"network": 0.2},
        },
    },
    "arrivals": [
        {"pattern": "burst", "task": "fast", "count": 300},
        {"pattern": "burst", "task": "slow", "count": 200, "at": "10ms"},
    ],
}


def _load(tmp_path: Path, **changes: Any) -> LoadedScenario:
    data = {**BASE, **changes}
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_scenario(path)


def _events(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _dlq(path: Path) -> dict[str, tuple[str, int]]:
    return {
        e["task_id"]: (e["reason"], e["attempts"])
        for e in _events(path)
        if e["event"] == "task_dead_lettered"
    }


def test_same_seed_same_dlq_whatever_the_interleaving(tmp_path: Path) -> None:
    """Failures are keyed by (seed, task, attempt): two threaded runs dead-letter the same ids."""
    scenario = _load(tmp_path)
    first = runner.run(scenario, log_path=tmp_path / "a.jsonl")
    second = runner.run(scenario, log_path=tmp_path / "b.jsonl")
    assert first.status == second.status == "completed"
    assert _dlq(tmp_path / "a.jsonl") == _dlq(tmp_path / "b.jsonl") != {}
    other = runner.run(scenario.with_overrides(seed=43), log_path=tmp_path / "c.jsonl")
    assert other.status == "completed"
    assert _dlq(tmp_path / "c.jsonl") != _dlq(tmp_path / "a.jsonl")


def test_threaded_and_virtual_engines_agree_on_the_dlq(tmp_path: Path) -> None:
    """Both engines drive the same core: same scenario and seed, same dead letters."""
    scenario = _load(tmp_path)
    runner.run(scenario, log_path=tmp_path / "real.jsonl")
    runner.run(scenario.with_overrides(clock="virtual"), log_path=tmp_path / "virtual.jsonl")
    assert _dlq(tmp_path / "real.jsonl") == _dlq(tmp_path / "virtual.jsonl")


def test_a_crashed_worker_loses_no_task(tmp_path: Path) -> None:
    """A worker_crash fault fails each busy victim's attempt with `crash`; it is retried.

    Which workers are busy at the crash depends on thread timing, so this checks what holds
    at any timing: every task taken from a crashed worker fails with `crash`, is retried and
    ends; the exact counts are checked on the virtual clock below. Tasks are long (500ms)
    against the crash time (250ms), so the victims are busy unless the process is starved.
    """
    scenario = _load(
        tmp_path,
        task_types={"job": {"duration": {"dist": "constant", "value": "500ms"}}},
        arrivals=[{"pattern": "burst", "task": "job", "count": 8}],
        faults=[{"kind": "worker_crash", "at": "250ms", "workers": 2, "restart_after": "100ms"}],
        retry={"max_attempts": 3, "base_delay": "10ms"},
        time_scale=1,
    )
    outcome = runner.run(scenario, log_path=tmp_path / "log.jsonl")
    events = _events(tmp_path / "log.jsonl")
    names = [e["event"] for e in events]
    assert outcome.status == "completed"
    assert names.count("worker_crashed") == 2 and names.count("worker_restarted") == 2
    taken = [e["task_id"] for e in events if e["event"] == "worker_crashed" and e["task_id"]]
    crashes = [e for e in events if e["event"] == "task_failed" and e["error"] == "crash"]
    assert taken, "the victims should have been busy 250ms into 500ms tasks"
    assert [e["task_id"] for e in crashes] == taken
    assert all(e["will_retry"] for e in crashes)
    assert outcome.totals["succeeded"] == 8 and outcome.totals["pending"] == 0


def test_crash_fault_on_the_virtual_clock_is_exact(tmp_path: Path) -> None:
    """On the virtual clock the victims are the two lowest busy workers, at exactly `at`."""
    scenario = _load(
        tmp_path,
        clock="virtual",
        task_types={"job": {"duration": {"dist": "constant", "value": "50ms"}}},
        arrivals=[{"pattern": "burst", "task": "job", "count": 40}],
        faults=[{"kind": "worker_crash", "at": "60ms", "workers": 2, "restart_after": "100ms"}],
        retry={"max_attempts": 3, "base_delay": "10ms"},
    )
    outcome = runner.run(scenario, log_path=tmp_path / "log.jsonl")
    events = _events(tmp_path / "log.jsonl")
    crashed = [e for e in events if e["event"] == "worker_crashed"]
    assert [(e["worker"], e["t"]) for e in crashed] == [("w01", 0.06), ("w02", 0.06)]
    crashes = [e for e in events if e["event"] == "task_failed" and e["error"] == "crash"]
    assert [e["task_id"] for e in crashes] == [e["task_id"] for e in crashed]
    restarted = [(e["worker"], e["t"]) for e in events if e["event"] == "worker_restarted"]
    assert restarted == [("w01", 0.16), ("w02", 0.16)]
    assert outcome.totals["succeeded"] == 40 and outcome.totals["pending"] == 0


def test_task_code_that_raises_kills_the_worker_not_the_task(tmp_path: Path) -> None:
    """An exception in the worker fails the attempt with `crash`; the worker restarts."""
    scenario = _load(tmp_path, workers=2)
    raised = threading.Event()

    def execute(attempt: Attempt) -> None:
        if attempt.task.id == "fast-000007" and not raised.is_set():
            raised.set()
            raise RuntimeError("segfault in the image library")

    outcome = runner.run(scenario, log_path=tmp_path / "log.jsonl", execute=execute)
    events = _events(tmp_path / "log.jsonl")
    crash = [e for e in events if e["event"] == "task_failed" and e["error"] == "crash"]
    assert outcome.status == "completed"
    assert [e["task_id"] for e in crash] == ["fast-000007"]
    assert "segfault" in crash[0]["message"]
    assert any(e["event"] == "worker_restarted" for e in events)
    ends = [
        e
        for e in events
        if e.get("task_id") == "fast-000007"
        and e["event"] in ("task_succeeded", "task_dead_lettered")
    ]
    assert len(ends) == 1


def test_stop_request_ends_with_interrupted_and_accounts_for_every_task(tmp_path: Path) -> None:
    """A stop mid-run: run_finished says interrupted; submitted = ended + pending."""
    scenario = _load(
        tmp_path,
        time_scale=1,
        arrivals=[{"pattern": "constant", "task": "slow", "rate": 200, "until": "10s"}],
    )
    holder: list[runner.Engine] = []
    timer = threading.Timer(0.3, lambda: holder[0].request_stop())

    def started(engine: runner.Engine) -> None:
        holder.append(engine)
        timer.start()

    outcome = runner.run(scenario, log_path=tmp_path / "log.jsonl", on_engine=started)
    timer.join(timeout=5)
    events = _events(tmp_path / "log.jsonl")
    last = events[-1]
    assert outcome.status == "interrupted" and last["event"] == "run_finished"
    assert last["status"] == "interrupted"
    totals = last["totals"]
    assert 0 < totals["submitted"] < 2000
    assert totals["submitted"] == totals["succeeded"] + totals["dead_lettered"] + totals["pending"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_a_scheduler_bug_fails_the_run_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception inside the scheduler ends the run as `failed` with a valid log, no hang."""
    from dtq.core.scheduler import Scheduler

    original = Scheduler.finish
    calls = {"n": 0}

    def broken(self: Scheduler, attempt: Attempt, now: float) -> bool:
        calls["n"] += 1
        if calls["n"] == 50:
            raise RuntimeError("boom")
        return original(self, attempt, now)

    monkeypatch.setattr(Scheduler, "finish", broken)
    outcome = runner.run(_load(tmp_path), log_path=tmp_path / "log.jsonl")
    last = _events(tmp_path / "log.jsonl")[-1]
    assert outcome.status == "failed" and last["status"] == "failed"
    assert "boom" in last["error"]
