"""Task types made of steps: calls to dependencies, timeouts, expiry, on the virtual clock."""

from __future__ import annotations

from typing import Any

from dtq.events import CALL_ENDED, CALL_STARTED, TASK_DEAD_LETTERED, TASK_FAILED, TASK_STARTED
from tests.helpers import Event, run_virtual, scenario


def stepped(**fields: Any) -> Any:
    """A scenario whose one task type `job` does 1 ms of work, then calls `db`."""
    data: dict[str, Any] = {
        "workers": 20,
        "dependencies": {"db": {"concurrency": 2, "latency": "10ms"}},
        "task_types": {"job": {"priority": 5, "steps": [{"work": "1ms"}, {"call": "db"}]}},
        "arrivals": [{"pattern": "burst", "task": "job", "count": 20}],
    }
    data.update(fields)
    return scenario(**data)


def named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e["event"] == name]


def test_a_dependency_never_serves_more_calls_than_its_slots() -> None:
    status, events, totals = run_virtual(stepped())
    assert status == "completed" and totals["succeeded"] == 20
    starts = named(events, CALL_STARTED)
    assert len(starts) == 20
    assert max(e["in_flight"] for e in starts) == 2
    # First come, first served: calls start in the order the attempts made them.
    assert [e["task_id"] for e in starts] == sorted(e["task_id"] for e in starts)
    # 20 calls of 10 ms on 2 slots: the last one waited for 9 rounds.
    assert max(e["waited_s"] for e in starts) == 0.09


def test_the_timeout_covers_waiting_in_line_and_the_call_stays_at_the_dependency() -> None:
    task_types = {"job": {"priority": 5, "steps": [{"call": "db"}], "timeout": "25ms"}}
    status, events, _ = run_virtual(
        stepped(
            task_types=task_types,
            retry={"max_attempts": 1},
            arrivals=[{"pattern": "burst", "task": "job", "count": 10}],
        )
    )
    assert status == "completed"
    timeouts = [e for e in named(events, TASK_FAILED) if e["error"] == "timeout"]
    assert timeouts and all(e["run_s"] == 0.025 for e in timeouts)
    # abandoned: continue (the default): every timed-out call is still served, wastefully.
    outcomes = [e["outcome"] for e in named(events, CALL_ENDED)]
    assert outcomes.count("abandoned") == len(timeouts)
    assert len(outcomes) == 10


def test_a_dependency_that_cancels_drops_calls_nobody_waits_for() -> None:
    deps = {"db": {"concurrency": 2, "latency": "10ms", "abandoned": "cancel"}}
    task_types = {"job": {"priority": 5, "steps": [{"call": "db"}], "timeout": "25ms"}}
    _, events, _ = run_virtual(
        stepped(dependencies=deps, task_types=task_types, retry={"max_attempts": 1})
    )
    outcomes = [e["outcome"] for e in named(events, CALL_ENDED)]
    # 2 slots, 10 ms a call, 25 ms to live: 4 calls answered, the rest cancelled.
    assert outcomes.count("ok") == 4
    assert set(outcomes) == {"ok", "cancelled"}


def test_a_call_cancelled_in_service_ends_once_and_frees_its_slot_once() -> None:
    """1 slot, 10 ms a call, 15 ms to live: at 15 ms the second call, in service since
    10 ms, is cancelled and its slot freed. Its service would have ended at 20 ms; that
    end must change nothing (a second free would let two calls share the one slot)."""
    deps = {"db": {"concurrency": 1, "latency": "10ms", "abandoned": "cancel"}}
    task_types = {"job": {"priority": 5, "steps": [{"call": "db"}], "timeout": "15ms"}}
    arrivals = [
        {"pattern": "burst", "task": "job", "count": 2},
        {"pattern": "constant", "task": "job", "rate": 1000, "from": "16ms", "until": "40ms"},
    ]
    _, events, totals = run_virtual(
        stepped(
            workers=4,
            dependencies=deps,
            task_types=task_types,
            arrivals=arrivals,
            retry={"max_attempts": 1},
        )
    )
    ended = [(e["task_id"], e["attempt"], e["outcome"]) for e in named(events, CALL_ENDED)]
    assert len(ended) == len(set((task, attempt) for task, attempt, _ in ended))
    assert ("job-000002", 1, "cancelled") in ended
    assert max(e["in_flight"] for e in named(events, CALL_STARTED)) == 1
    # Calls start one at a time, each after the one before it left its slot.
    serving: set[str] = set()
    for event in events:
        if event["event"] == CALL_STARTED:
            assert not serving, f"{event['task_id']} started beside {serving}"
            serving.add(event["task_id"])
        elif event["event"] == CALL_ENDED and event["served_s"] is not None:
            serving.discard(event["task_id"])
    assert totals["pending"] == 0


def test_a_full_line_fails_calls_at_once_as_overloaded() -> None:
    deps = {"db": {"concurrency": 1, "latency": "10ms", "queue_limit": 3}}
    _, events, totals = run_virtual(stepped(dependencies=deps, retry={"max_attempts": 1}))
    overloaded = [e for e in named(events, TASK_FAILED) if e["error"] == "overloaded"]
    assert len(overloaded) == 20 - 4
    assert all(e["dependency"] == "db" and e["run_s"] == 0.001 for e in overloaded)
    assert totals["dead_lettered"] == 16


def test_a_throttled_retry_waits_for_the_next_token() -> None:
    deps = {"db": {"latency": "1ms", "rate_limit": {"rate": 10, "burst": 1}}}
    retry = {"max_attempts": 50, "backoff": "none", "retry_on": ["throttled"]}
    _, events, totals = run_virtual(stepped(dependencies=deps, retry=retry))
    assert totals["succeeded"] == 20
    throttled = [e for e in named(events, TASK_FAILED) if e["error"] == "throttled"]
    assert throttled
    for e in throttled:
        assert e["retry_at"] >= round(e["t"] + e["retry_after"], 6) - 1e-6


def test_optimistic_writes_conflict_when_another_wrote_first() -> None:
    deps = {"db": {"latency": "10ms", "mode": "optimistic"}}
    retry = {
        "max_attempts": 100,
        "backoff": "fixed",
        "base_delay": "3ms",
        "jitter": "full",
        "retry_on": ["conflict"],
    }
    _, events, totals = run_virtual(stepped(dependencies=deps, retry=retry))
    assert totals["succeeded"] == 20
    outcomes = [e["outcome"] for e in named(events, CALL_ENDED)]
    assert outcomes.count("ok") == 20 and "conflict" in outcomes


def test_an_outage_of_a_dependency_fails_its_calls_as_unavailable() -> None:
    faults = [{"kind": "outage", "dependency": "db", "from": "0s", "until": "1s"}]
    _, events, totals = run_virtual(stepped(faults=faults, retry={"max_attempts": 1}))
    errors = {e["error"] for e in named(events, TASK_FAILED)}
    assert errors == {"unavailable"} and totals["dead_lettered"] == 20


def test_a_slowdown_scales_the_slots_inside_its_window() -> None:
    deps = {"db": {"concurrency": 10, "latency": "10ms"}}
    faults = [
        {"kind": "slowdown", "dependency": "db", "from": "0s", "until": "1s", "capacity": 0.2}
    ]
    _, events, _ = run_virtual(stepped(dependencies=deps, faults=faults))
    assert max(e["in_flight"] for e in named(events, CALL_STARTED)) == 2


def test_a_task_not_started_within_expires_is_dead_lettered_and_never_runs() -> None:
    task_types = {
        "job": {"priority": 5, "duration": {"dist": "constant", "value": "10ms"}, "expires": "25ms"}
    }
    _, events, totals = run_virtual(scenario(workers=1, task_types=task_types))
    expired = [e for e in named(events, TASK_DEAD_LETTERED) if e["reason"] == "expired"]
    started = {e["task_id"] for e in named(events, TASK_STARTED)}
    assert len(expired) == 10 - 3  # started at 0, 10 ms and 20 ms; the rest waited too long
    assert not started & {e["task_id"] for e in expired}
    assert totals["succeeded"] + totals["dead_lettered"] == totals["submitted"]


def test_the_same_seed_gives_the_same_log() -> None:
    deps = {"db": {"concurrency": 2, "latency": {"dist": "exponential", "mean": "10ms"}}}
    model = stepped(dependencies=deps)
    assert run_virtual(model)[1] == run_virtual(model)[1]
