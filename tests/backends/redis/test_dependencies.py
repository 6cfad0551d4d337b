"""Dependencies, steps, budgets and expiry on Redis: slots, line and bucket live in Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from dtq.engine import runner
from dtq.events import STATUS_COMPLETED
from dtq.log.verify import verdict_lines, verify_log
from dtq.scenario import LoadedScenario
from tests.helpers import finish_process, scenario

Event = dict[str, Any]
TIMEOUT_S = 90.0


def _fields(url: str, **changes: Any) -> dict[str, Any]:
    """Calls to a database of 2 slots with a short line, then to a rate-limited API."""
    fields: dict[str, Any] = {
        "seed": 5,
        "clock": "real",
        "time_scale": 2,
        "workers": 2,
        "backend": url,
        "visibility_timeout": "5s",
        "retry": {"max_attempts": 4, "backoff": "fixed", "base_delay": "30ms"},
        "dependencies": {
            "db": {
                "concurrency": 2,
                "latency": {"dist": "exponential", "mean": "20ms"},
                "queue_limit": 2,
            },
            "api": {"latency": "2ms", "rate_limit": {"rate": 60, "burst": 3}},
        },
        "task_types": {
            "order": {
                "priority": 1,
                "steps": [{"work": "1ms"}, {"call": "db"}, {"call": "api"}],
                "timeout": "400ms",
            }
        },
        "arrivals": [{"pattern": "poisson", "task": "order", "rate": 120, "until": "1s"}],
    }
    fields.update(changes)
    return fields


def _run(tmp_path: Path, fields: dict[str, Any], name: str = "deps") -> tuple[Any, list[Event]]:
    log = tmp_path / f"{name}.jsonl"
    loaded = LoadedScenario(Path(f"{name}.yaml"), name, scenario(**fields), "0" * 64)
    outcome = runner.run(loaded, log_path=log)
    verdict = verify_log(log)
    assert verdict.is_valid, verdict_lines(verdict)
    return outcome, [orjson.loads(line) for line in log.read_bytes().splitlines()]


def _named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e["event"] == name]


def _accounted(events: list[Event]) -> dict[str, int]:
    """run_finished's totals, checked: every submitted task ended, nothing pending."""
    totals: dict[str, int] = events[-1]["totals"]
    assert events[-1]["status"] == STATUS_COMPLETED
    assert totals["pending"] == 0
    assert totals["submitted"] == totals["succeeded"] + totals["dead_lettered"] > 0
    return totals


def _most_in_flight(events: list[Event], dependency: str) -> int:
    calls = _named(events, "call_started")
    return max(int(e["in_flight"]) for e in calls if e["dependency"] == dependency)


def _dtq(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dtq", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    return finish_process(process, TIMEOUT_S)


@pytest.mark.slow
def test_worker_processes_contend_for_the_slots_line_and_bucket_in_redis(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """Two `dtq worker` processes (the coordinator has no worker of its own) share one
    database of 2 slots with a line of 1, and one token bucket: never more than 2 calls
    in service (verify proves it on the log), the line overflows (overloaded), the bucket
    runs dry (throttled, with its retry_after), and every task is accounted for."""
    fields = _fields(
        redis_url,
        time_scale=1,
        workers=0,
        dependencies={
            "db": {
                "concurrency": 2,
                "latency": {"dist": "exponential", "mean": "40ms"},
                "queue_limit": 1,
            },
            "api": {"latency": "2ms", "rate_limit": {"rate": 30, "burst": 3}},
        },
        task_types={"order": {"steps": [{"call": "db"}, {"call": "api"}], "timeout": "1s"}},
        arrivals=[{"pattern": "burst", "task": "order", "count": 120}],
    )
    path = tmp_path / "contend.yaml"
    path.write_text(yaml.safe_dump({"name": "contend", **fields}))
    log = tmp_path / "contend.jsonl"
    workers = [
        _dtq("worker", "--broker", redis_url, "--concurrency", "3", "--wait", "30")
        for _ in range(2)
    ]
    run = _dtq("run", str(path), "--quiet", "--log", str(log))
    try:
        code, out, err = _finish(run)
        ends = [_finish(worker) for worker in workers]
    finally:
        for process in (run, *workers):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
    assert code == 0, out + err
    assert all(end[0] == 0 for end in ends), ends
    # Both processes ran attempts ("... completed; N attempts run here", N > 0).
    assert all(" 0 attempts" not in end[1] and "attempts run here" in end[1] for end in ends)
    verdict = verify_log(log)
    assert verdict.is_valid, verdict_lines(verdict)
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    totals = _accounted(events)
    assert _most_in_flight(events, "db") == 2
    failed = _named(events, "task_failed")
    errors = Counter(e["error"] for e in failed)
    assert errors["overloaded"] > 0 and errors["throttled"] > 0, errors
    throttled = [e for e in failed if e["error"] == "throttled"]
    assert all(e["dependency"] == "api" and e["retry_after"] > 0 for e in throttled)
    # A throttled retry waits at least until the bucket has a token again.
    assert all(
        e["retry_at"] >= e["t"] + e["retry_after"] - 1e-6 for e in throttled if e["will_retry"]
    )
    assert totals["started"] == len(_named(events, "task_started"))
    # First come, first served: calls start in the order they arrived (t - waited_s).
    calls = _named(events, "call_started")
    db_arrived = [e["t"] - e["waited_s"] for e in calls if e["dependency"] == "db"]
    assert all(b >= a - 2e-6 for a, b in pairwise(db_arrived))
    started = Counter((e["task_id"], e["attempt"]) for e in _named(events, "call_started"))
    ended = Counter((e["task_id"], e["attempt"]) for e in _named(events, "call_ended"))
    assert started == ended  # every call that got a slot was served, and logged once


@pytest.mark.parametrize(
    ("abandoned", "outcome"), [("continue", "abandoned"), ("cancel", "cancelled")]
)
def test_a_timed_out_attempt_leaves_its_call_or_cancels_it(
    redis_url: str, namespace: str, tmp_path: Path, abandoned: str, outcome: str
) -> None:
    """One slot of 100ms and a timeout of 150ms that covers the line: attempts time out
    in line; `continue` serves their calls anyway, `cancel` drops them."""
    fields = _fields(
        redis_url,
        workers=4,
        retry={"max_attempts": 1},
        dependencies={"db": {"concurrency": 1, "latency": "100ms", "abandoned": abandoned}},
        task_types={"job": {"steps": [{"call": "db"}], "timeout": "150ms"}},
        arrivals=[{"pattern": "burst", "task": "job", "count": 8}],
    )
    result, events = _run(tmp_path, fields)
    assert result.status == STATUS_COMPLETED, result.error
    totals = _accounted(events)
    timeouts = [e for e in _named(events, "task_failed") if e["error"] == "timeout"]
    assert timeouts and totals["dead_lettered"] == len(timeouts)
    assert _most_in_flight(events, "db") == 1
    outcomes = Counter(e["outcome"] for e in _named(events, "call_ended"))
    assert outcomes[outcome] > 0, outcomes
    if abandoned == "continue":
        # Every call was served, for someone or for nobody: the run waited for them all.
        assert sum(outcomes.values()) == 8 and outcomes["cancelled"] == 0
        served = [e for e in _named(events, "call_ended") if e["outcome"] == "abandoned"]
        assert all(e["served_s"] > 0 for e in served)
    else:
        assert outcomes["abandoned"] == 0


def test_an_optimistic_record_makes_racing_calls_conflict(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """Calls that read the record while another is being written fail with conflict."""
    fields = _fields(
        redis_url,
        workers=6,
        retry={"max_attempts": 10, "backoff": "fixed", "base_delay": "10ms"},
        dependencies={"record": {"latency": "30ms", "mode": "optimistic"}},
        task_types={"update": {"steps": [{"call": "record"}]}},
        arrivals=[{"pattern": "burst", "task": "update", "count": 12}],
    )
    result, events = _run(tmp_path, fields)
    assert result.status == STATUS_COMPLETED, result.error
    _accounted(events)
    conflicts = [e for e in _named(events, "task_failed") if e["error"] == "conflict"]
    assert conflicts
    outcomes = Counter(e["outcome"] for e in _named(events, "call_ended"))
    assert outcomes["conflict"] == len(conflicts)
    assert outcomes["ok"] >= len(_named(events, "task_succeeded"))


def test_a_slowdown_and_an_outage_of_a_dependency_come_from_the_coordinator(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """A slowdown leaves one slot of two (verify checks every call against it); a
    dependency outage fails the calls made inside it with its error, naming it."""
    fields = _fields(
        redis_url,
        workers=4,
        retry={"max_attempts": 1},
        dependencies={"db": {"concurrency": 2, "latency": "10ms"}},
        task_types={"job": {"steps": [{"call": "db"}]}},
        arrivals=[{"pattern": "constant", "task": "job", "rate": 100, "until": "1s"}],
        faults=[
            {
                "kind": "slowdown",
                "dependency": "db",
                "from": "100ms",
                "until": "500ms",
                "capacity": 0.5,
                "latency": 2,
            },
            {"kind": "outage", "dependency": "db", "from": "600ms", "until": "800ms", "rate": 1},
        ],
    )
    result, events = _run(tmp_path, fields)
    assert result.status == STATUS_COMPLETED, result.error
    _accounted(events)
    inside: str | None = None
    outage_over = False
    late: set[str] = set()  # attempts that started after the outage ended
    seen: Counter[str] = Counter()
    for event in events:
        name = event["event"]
        if name == "fault_started":
            inside = event["kind"]
        elif name == "fault_ended":
            outage_over = inside == "outage"
            inside = None
        elif name == "call_started" and inside == "slowdown":
            assert event["in_flight"] <= 1
            seen["slow"] += 1
        elif name == "task_started" and outage_over:
            late.add(event["task_id"])
        elif name == "task_failed":
            # Turned away inside the outage; its worker settles the attempt a moment later.
            assert event["error"] == "unavailable" and event["dependency"] == "db"
            assert (inside == "outage" or outage_over) and event["task_id"] not in late
            seen["down"] += 1
    assert seen["slow"] > 0 and seen["down"] > 0, seen


def test_a_retry_budget_in_redis_denies_retries_past_its_ratio(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """Half the attempts fail; the budget grants retries up to 20% of first attempts in
    its window, the rest dead-letter with reason budget, decided where the retry is."""
    fields = _fields(
        redis_url,
        time_scale=20,
        workers=4,
        retry={
            "max_attempts": 5,
            "backoff": "fixed",
            "base_delay": "10ms",
            "budget": {"ratio": 0.2, "min_per_s": 0, "window": "60s"},
        },
        dependencies={},
        task_types={
            "job": {"duration": {"dist": "constant", "value": "2ms"}, "failures": {"network": 0.5}}
        },
        arrivals=[{"pattern": "burst", "task": "job", "count": 200}],
    )
    result, events = _run(tmp_path, fields)
    assert result.status == STATUS_COMPLETED, result.error
    totals = _accounted(events)
    firsts = sum(1 for e in _named(events, "task_started") if e["attempt"] == 1)
    retries = [e for e in _named(events, "task_failed") if e["will_retry"]]
    assert firsts == 200
    assert 0 < len(retries) <= 0.2 * firsts
    reasons = Counter(e["reason"] for e in _named(events, "task_dead_lettered"))
    assert reasons["budget"] > 0
    assert totals["retried"] == len(retries)


def test_an_expired_task_is_dead_lettered_on_delivery_and_never_starts(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """One worker, tasks of 40ms that expire 100ms after submission: the late ones never
    start and end in the DLQ as expired (verify checks that they waited past it)."""
    fields = _fields(
        redis_url,
        workers=1,
        dependencies={},
        task_types={"job": {"duration": {"dist": "constant", "value": "40ms"}, "expires": "100ms"}},
        arrivals=[{"pattern": "burst", "task": "job", "count": 10}],
    )
    result, events = _run(tmp_path, fields)
    assert result.status == STATUS_COMPLETED, result.error
    totals = _accounted(events)
    expired = {e["task_id"] for e in _named(events, "task_dead_lettered")}
    assert expired and totals["dead_lettered"] == len(expired)
    assert all(e["reason"] == "expired" for e in _named(events, "task_dead_lettered"))
    assert not expired & {e["task_id"] for e in _named(events, "task_started")}


def test_a_crash_fault_abandons_the_calls_of_the_attempts_it_kills(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """Workers killed while their calls wait in line or are served: the attempts fail with
    crash and are retried, the calls stay and are served for nobody (abandoned), and the
    run ends with every call and every task accounted for."""
    fields = _fields(
        redis_url,
        workers=4,
        retry={"max_attempts": 3, "backoff": "fixed", "base_delay": "10ms"},
        dependencies={"db": {"concurrency": 1, "latency": "300ms"}},
        task_types={"job": {"steps": [{"call": "db"}]}},
        arrivals=[{"pattern": "burst", "task": "job", "count": 4}],
        faults=[{"kind": "worker_crash", "at": "400ms", "workers": 2, "restart_after": "100ms"}],
    )
    result, events = _run(tmp_path, fields)
    assert result.status == STATUS_COMPLETED, result.error
    totals = _accounted(events)
    crashed = [e for e in _named(events, "task_failed") if e["error"] == "crash"]
    assert crashed and totals["succeeded"] == 4
    outcomes = Counter(e["outcome"] for e in _named(events, "call_ended"))
    # Each killed attempt had offered its call (all four were claimed at once, long before).
    assert 0 < outcomes["abandoned"] <= len(crashed), outcomes
    started = Counter((e["task_id"], e["attempt"]) for e in _named(events, "call_started"))
    assert started == Counter((e["task_id"], e["attempt"]) for e in _named(events, "call_ended"))
    assert _most_in_flight(events, "db") == 1


@pytest.mark.slow
def test_stepped_attempts_draw_alike_on_redis_and_on_the_virtual_clock(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """Where contention cannot decide (a dependency without limits, no timeout), every
    stepped attempt's failure is the keyed draw: Redis gives the virtual clock's DLQ."""
    fields = _fields(
        redis_url,
        time_scale=5,
        workers=4,
        retry={"max_attempts": 3, "backoff": "fixed", "base_delay": "10ms"},
        dependencies={"db": {"latency": {"dist": "exponential", "mean": "5ms"}}},
        task_types={
            "job": {
                "steps": [{"work": "1ms"}, {"call": "db"}],
                "failures": {"network": 0.3, "bad_input": 0.05},
            }
        },
        arrivals=[{"pattern": "burst", "task": "job", "count": 150}],
    )
    on_redis, redis_events = _run(tmp_path, fields, "redis")
    virtual = {**fields, "clock": "virtual", "backend": "memory"}
    in_memory, memory_events = _run(tmp_path, virtual, "memory")
    assert on_redis.status == STATUS_COMPLETED, on_redis.error

    def dlq(events: list[Event]) -> dict[str, tuple[str, int, str]]:
        dead = _named(events, "task_dead_lettered")
        return {e["task_id"]: (e["reason"], e["attempts"], e["last_error"]) for e in dead}

    assert dlq(redis_events) == dlq(memory_events)
    assert len(dlq(redis_events)) > 5
    assert on_redis.totals == in_memory.totals
    assert len(_named(redis_events, "call_ended")) == len(_named(memory_events, "call_ended"))
