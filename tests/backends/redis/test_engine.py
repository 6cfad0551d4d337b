"""Whole runs on the Redis backend: same DLQ as memory, faults, and Redis itself failing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from dtq.backends.redis.conn import NAMESPACE_ENV
from dtq.engine import runner
from dtq.events import STATUS_COMPLETED, STATUS_FAILED
from dtq.log.verify import verdict_lines, verify_log
from dtq.scenario import LoadedScenario
from tests.helpers import scenario

Event = dict[str, Any]
CLOSED_PORT_URL = "redis://127.0.0.1:1/13"


def _fields(url: str, **changes: Any) -> dict[str, Any]:
    """~800 tasks on 4 workers at time_scale 20; failures drawn per attempt, retried."""
    fields: dict[str, Any] = {
        "seed": 11,
        "clock": "real",
        "time_scale": 20,
        "workers": 4,
        "backend": url,
        "visibility_timeout": "1s",
        "retry": {
            "max_attempts": 3,
            "backoff": "exponential",
            "base_delay": "20ms",
            "max_delay": "200ms",
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
            "ping": {"priority": 4, "failures": {"network": 0.2}},
        },
        "arrivals": [
            {"pattern": "burst", "task": "fast", "count": 300},
            {"pattern": "burst", "task": "slow", "count": 200, "at": "10ms"},
            {"pattern": "burst", "task": "ping", "count": 300, "at": "20ms"},
        ],
    }
    fields.update(changes)
    return fields


def _run(tmp_path: Path, name: str = "redis", **options: Any) -> tuple[runner.RunEnd, Path]:
    log = tmp_path / f"{name}.jsonl"
    model = scenario(**options.pop("fields"))
    loaded = LoadedScenario(Path(f"{name}.yaml"), name, model, "0" * 64)
    return runner.run(loaded, log_path=log, **options), log


def _events(log: Path) -> list[Event]:
    return [orjson.loads(line) for line in log.read_bytes().splitlines()]


def _dlq(events: list[Event]) -> dict[str, tuple[str, int, str]]:
    return {
        e["task_id"]: (e["reason"], e["attempts"], e["last_error"])
        for e in events
        if e["event"] == "task_dead_lettered"
    }


def _assert_valid(log: Path) -> None:
    verdict = verify_log(log)
    assert verdict.is_valid, verdict_lines(verdict)


def test_the_same_scenario_gives_the_same_dlq_and_totals_on_memory_and_on_redis(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """Draws decide every attempt, whoever runs it: Redis agrees with the virtual clock."""
    on_redis, redis_log = _run(tmp_path, fields=_fields(redis_url))
    in_memory, memory_log = _run(
        tmp_path, "memory", fields=_fields("memory", clock="virtual", backend="memory")
    )
    assert on_redis.status == STATUS_COMPLETED, on_redis.error
    dlq = _dlq(_events(redis_log))
    assert dlq == _dlq(_events(memory_log))
    assert len(dlq) > 10
    assert on_redis.totals == in_memory.totals
    _assert_valid(redis_log)


def test_an_outage_fails_every_attempt_that_starts_inside_it(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """Workers read the active outages atomically with each claim (stream order decides)."""
    # At time_scale 1 the window is 300ms of real time: enough for attempts to start in
    # it even on a busy machine (a 75ms window could pass with a handful).
    fields = _fields(
        redis_url,
        time_scale=1,
        retry={"max_attempts": 1},
        task_types={"job": {"duration": {"dist": "constant", "value": "5ms"}}},
        arrivals=[{"pattern": "constant", "task": "job", "rate": 200, "until": "1s"}],
        faults=[{"kind": "outage", "from": "300ms", "until": "600ms", "error": "net", "rate": 1}],
    )
    outcome, log = _run(tmp_path, fields=fields)
    assert outcome.status == STATUS_COMPLETED, outcome.error
    inside = False
    started_inside: dict[str, bool] = {}
    failed: set[str] = set()
    for event in _events(log):
        name = event["event"]
        if name in ("fault_started", "fault_ended"):
            inside = name == "fault_started"
        elif name == "task_started":
            started_inside[event["task_id"]] = inside
        elif name == "task_failed":
            assert event["error"] == "net"
            failed.add(event["task_id"])
    assert failed == {task for task, was_inside in started_inside.items() if was_inside}
    # Some started inside (60 arrived in the window), and not all.
    assert 0 < len(failed) < len(started_inside)


def test_a_worker_crash_fault_fails_the_attempts_and_the_workers_come_back(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """The victims' attempts fail with `crash`, are retried, and the workers restart."""
    # One 4s task per worker (2s of wall time), the crash at 2s (1s of wall time): every
    # worker has had a second to claim its task, and holds it until well past the crash.
    fields = _fields(
        redis_url,
        time_scale=2,
        task_types={"job": {"duration": {"dist": "constant", "value": "4s"}}},
        arrivals=[{"pattern": "burst", "task": "job", "count": 4}],
        faults=[{"kind": "worker_crash", "at": "2s", "workers": 2, "restart_after": "400ms"}],
    )
    outcome, log = _run(tmp_path, fields=fields)
    assert outcome.status == STATUS_COMPLETED, outcome.error
    events = _events(log)
    crashed = [e for e in events if e["event"] == "worker_crashed"]
    assert len(crashed) == 2
    # The product's rule: busy workers are the victims first (in name order), so the
    # crash costs work in flight. Which workers held an attempt at the crash instant is
    # read from the log, whose order is the order of the changes in Redis: a coordinator
    # so late that it submits the burst and crashes at once finds them idle, and then
    # idle victims in name order are what the rule asks for.
    busy = _running_at(events, events.index(crashed[0]))
    expected = sorted(busy) + sorted({"w01", "w02", "w03", "w04"} - busy.keys())
    assert [e["worker"] for e in crashed] == expected[:2]
    assert [e["task_id"] for e in crashed] == [busy.get(w) for w in expected[:2]]
    held = {e["task_id"] for e in crashed} - {None}
    crash_failures = [e for e in events if e["event"] == "task_failed" and e["error"] == "crash"]
    assert {e["task_id"] for e in crash_failures} == held
    assert all(e["will_retry"] for e in crash_failures)
    restarted = {e["worker"] for e in events if e["event"] == "worker_restarted"}
    assert restarted == {e["worker"] for e in crashed}
    assert outcome.totals["pending"] == 0
    _assert_valid(log)


def _running_at(events: list[Event], end: int) -> dict[str, str]:
    """The attempt each worker was running just before `events[end]`: worker -> task."""
    running: dict[str, str] = {}
    for event in events[:end]:
        if event["event"] == "task_started":
            running[event["worker"]] = event["task_id"]
        elif event["event"] in ("task_succeeded", "task_failed"):
            running.pop(event["worker"], None)
    return running


def _later(delay_s: float, action: Any) -> Any:
    """An `on_engine` hook that runs `action` on a thread `delay_s` after the engine starts."""
    threads: list[threading.Thread] = []

    def hook(_engine: Any) -> None:
        def act() -> None:
            time.sleep(delay_s)
            action()

        thread = threading.Thread(target=act, daemon=True)
        threads.append(thread)
        thread.start()

    return hook


def test_killed_connections_are_ridden_out(
    redis_url: str, namespace: str, client: redis.Redis, tmp_path: Path
) -> None:
    """CLIENT KILL on every connection of this run mid-way: it reconnects and completes."""
    killed: list[int] = []

    def kill_ours() -> None:
        clients: Any = client.client_list()
        for info in clients:
            if info.get("name", "").startswith(f"dtq:{namespace}:"):
                client.client_kill_filter(_id=info["id"])
                killed.append(int(info["id"]))

    fields = _fields(redis_url, time_scale=2)
    outcome, log = _run(tmp_path, fields=fields, on_engine=_later(0.3, kill_ours))
    assert killed
    assert outcome.status == STATUS_COMPLETED, outcome.error
    assert outcome.totals["pending"] == 0
    _assert_valid(log)


def test_a_redis_that_loses_the_run_fails_it_with_a_clear_error(
    redis_url: str, namespace: str, client: redis.Redis, tmp_path: Path
) -> None:
    """The run's keys vanish mid-run (a restart with no persistence): failed, not hung."""

    def wipe() -> None:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        client.unlink(*keys)

    fields = _fields(redis_url, time_scale=1)
    outcome, log = _run(tmp_path, fields=fields, on_engine=_later(0.3, wipe))
    assert outcome.status == STATUS_FAILED
    assert outcome.error is not None and "gone from Redis" in outcome.error
    assert outcome.wall_s < 10
    last = _events(log)[-1]
    assert (last["event"], last["status"]) == ("run_finished", STATUS_FAILED)


@pytest.mark.slow
def test_an_unreachable_redis_fails_the_run_with_a_clear_error(tmp_path: Path) -> None:
    """Nothing listens on the port: a failed run after the ride-out window, with a log."""
    outcome, log = _run(tmp_path, fields=_fields(CLOSED_PORT_URL))
    assert outcome.status == STATUS_FAILED
    assert outcome.error is not None and "did not answer" in outcome.error
    assert outcome.wall_s < 10
    events = _events(log)
    assert [e["event"] for e in events] == ["run_started", "run_finished"]


def test_a_scenario_can_keep_its_keys_in_a_namespace_of_its_own(
    redis_url: str,
    namespace: str,
    client: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`redis_namespace:` in the scenario prefixes every key; $DTQ_REDIS_NAMESPACE, the
    run-time choice, wins over it when set."""
    own = f"{namespace}:own"
    fields = _fields(
        redis_url,
        redis_namespace=own,
        arrivals=[{"pattern": "burst", "task": "ping", "count": 20}],
    )
    monkeypatch.delenv(NAMESPACE_ENV)
    outcome, _ = _run(tmp_path, fields=fields)
    assert outcome.status == STATUS_COMPLETED, outcome.error
    keys = set(client.scan_iter(match=f"{namespace}:*", count=1000))
    assert keys and all(key.startswith(f"{own}:") for key in keys), keys
    monkeypatch.setenv(NAMESPACE_ENV, f"{namespace}:env")
    outcome, _ = _run(tmp_path, "again", fields=fields)
    assert outcome.status == STATUS_COMPLETED, outcome.error
    assert any(
        key.startswith(f"{namespace}:env:") for key in client.scan_iter(match=f"{namespace}:*")
    )
