"""The Lua scripts against a real Redis: atomic claims, policy order, leases, retries."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from dtq.backends.redis.conn import RedisConnection
from dtq.backends.redis.store import AttemptReport, RunKeys, RunStore
from dtq.backends.redis.wire import decode_entry
from dtq.core.plan import Plan
from dtq.core.queues import ReadyQueue
from dtq.core.task import Task
from dtq.engine.distributed import run_settings
from dtq.fold.state import RunState
from dtq.scenario import LoadedScenario
from dtq.scenario.compile import compile_plan
from tests.helpers import scenario

Event = dict[str, Any]
# error, message, retry, delay, reason, dependency, retry_after of a success
OK: tuple[str, str, bool, float, str, str, None] = ("", "", False, 0.0, "", "", None)
JOIN_TIMEOUT_S = 30.0


@pytest.fixture
def make_store(redis_url: str, namespace: str) -> Iterator[Any]:
    """Builds a run's store from scenario fields; closes its connections after the test."""
    conns: list[RedisConnection] = []

    def make(**fields: Any) -> tuple[RunStore, Plan]:
        model = scenario(**fields)
        plan = compile_plan(model)
        conn = RedisConnection(redis_url, client_name=f"dtq:{namespace}:test", ride_out_s=1.0)
        conns.append(conn)
        store = RunStore(conn, RunKeys(namespace, f"run{len(conns)}"))
        store.create(run_settings(LoadedScenario(Path("t.yaml"), "t", model, "0" * 64), plan))
        return store, plan

    yield make
    for conn in conns:
        conn.close()


def _events(client: redis.Redis, store: RunStore) -> list[Event]:
    entries: Any = client.xrange(store.keys.of("events"))
    return [event for _, fields in entries for event in decode_entry(fields["e"])]


def _counts(client: redis.Redis, store: RunStore) -> dict[str, int]:
    raw: Any = client.hgetall(store.keys.of("counts"))
    return {key: int(value) for key, value in raw.items()}


def _success(task_id: str, number: int) -> list[AttemptReport]:
    return [(task_id, number, True, *OK)]


def _silent_until(client: redis.Redis, store: RunStore, event: str) -> list[Event]:
    """The workers say nothing while the coordinator ticks every 10ms, as it does in a run,
    until `event` is logged (a gap between ticks of half the visibility timeout counts
    as a pause of Redis and gives the workers that time back, so the ticks must keep on)."""
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while time.monotonic() < deadline:
        store.tick("lost")
        events = _events(client, store)
        if any(e["event"] == event for e in events):
            return events
        time.sleep(0.01)
    raise AssertionError(f"no {event} within {JOIN_TIMEOUT_S:g}s")


def test_concurrent_workers_claim_every_task_exactly_once(
    make_store: Any, client: redis.Redis
) -> None:
    """16 workers on their own connections race for 1,500 tasks: each is claimed once."""
    store, _ = make_store()
    tasks = [(f"job-{i:06d}", "job", 5, i % 2 == 0) for i in range(1, 1501)]
    store.submit(1, tasks[:700])
    store.submit(2, tasks[700:])
    _, names = store.join(16, "test")
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()

    def serve(name: str) -> None:
        outcomes: list[AttemptReport] = []
        while True:
            claim = store.work(name, outcomes, 50)
            outcomes = [item for a in claim.attempts for item in _success(*a)]
            with lock:
                claimed.extend(claim.attempts)
            if not claim.attempts:
                return

    threads = [threading.Thread(target=serve, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(task_id for task_id, _ in claimed) == [task[0] for task in tasks]
    assert {number for _, number in claimed} == {1}
    counts = _counts(client, store)
    assert (counts["started"], counts["succeeded"]) == (1500, 1500)
    started = [e["task_id"] for e in _events(client, store) if e["event"] == "task_started"]
    assert sorted(started) == [task[0] for task in tasks]


@pytest.mark.parametrize("policy", ["priority", "fifo", "aging"])
def test_claims_follow_the_policy_exactly_as_the_memory_queue_does(
    make_store: Any, client: redis.Redis, policy: str
) -> None:
    """Mixed priorities submitted in waves pop in the order ReadyQueue pops them."""
    fields: dict[str, Any] = {"policy": policy}
    if policy == "aging":
        fields["aging_interval"] = "15ms"
    store, plan = make_store(scheduler=fields)
    rng = random.Random(7)
    number = 0
    for wave in range(4):
        batch = []
        for _ in range(12):
            number += 1
            batch.append((f"job-{number:06d}", "job", rng.randint(1, 10), False))
        store.submit(wave + 1, batch)
        time.sleep(0.012)
    _, (name,) = store.join(1, "test")
    order: list[str] = []
    outcomes: list[AttemptReport] = []
    while True:
        claim = store.work(name, outcomes, 1)
        outcomes = [item for a in claim.attempts for item in _success(*a)]
        if not claim.attempts:
            break
        order.append(claim.attempts[0][0])
    queue = ReadyQueue(policy=policy, aging_interval_s=plan.aging_interval_s)
    for event in _events(client, store):
        if event["event"] == "task_submitted":
            task = Task(event["task_id"], plan.kinds["job"], 0)
            task.priority = event["priority"]
            queue.push(task, event["t"])
    expected = [queue.pop().id for _ in range(len(queue))]  # type: ignore[union-attr]
    assert order == expected


def test_a_lost_lease_is_redelivered_and_the_first_success_alone_counts(
    make_store: Any, client: redis.Redis
) -> None:
    """w1 goes silent, the task runs again on w2; w1's late success ends it, w2's is a duplicate."""
    store, _ = make_store(visibility_timeout="100ms")
    store.submit(1, [("job-000001", "job", 5, False)])
    _, (first,) = store.join(1, "test")
    assert store.work(first, [], 1).attempts == [("job-000001", 1)]
    crashed = [e for e in _silent_until(client, store, "task_redelivered") if "task_id" in e]
    # The lost worker's worker_crashed names the task it held, which is delivered again.
    assert [(e["event"], e.get("worker")) for e in crashed[-2:]] == [
        ("worker_crashed", first),
        ("task_redelivered", None),
    ]
    assert crashed[-2]["task_id"] == crashed[-1]["task_id"] == "job-000001"
    _, (second,) = store.join(1, "test")
    assert store.work(second, [], 1).attempts == [("job-000001", 2)]
    store.work(first, _success("job-000001", 1), 0)
    store.work(second, _success("job-000001", 2), 0)
    events = _events(client, store)
    redelivered = [e for e in events if e["event"] == "task_redelivered"]
    assert [(e["attempt"], e["lost_worker"]) for e in redelivered] == [(2, first)]
    succeeded = [(e["worker"], e["attempt"]) for e in events if e["event"] == "task_succeeded"]
    assert succeeded == [(first, 1), (second, 2)]
    counts = _counts(client, store)
    assert (counts["succeeded"], counts["redelivered"], counts["started"]) == (1, 1, 2)
    folded = RunState().apply_all(events).totals()
    assert folded["succeeded"] == 1
    assert folded["pending"] == 0


def test_an_attempt_lost_on_the_last_try_is_dead_lettered_as_lost(
    make_store: Any, client: redis.Redis
) -> None:
    """No attempt left after a lost lease: task_failed (crash), then DLQ with reason lost."""
    store, _ = make_store(visibility_timeout="50ms", retry={"max_attempts": 1})
    store.submit(1, [("job-000001", "job", 5, False)])
    _, (name,) = store.join(1, "test")
    store.work(name, [], 1)
    _silent_until(client, store, "task_dead_lettered")
    events = [e for e in _events(client, store) if e["event"].startswith("task_")]
    failed, dead = events[-2], events[-1]
    assert (failed["event"], failed["error"], failed["will_retry"]) == (
        "task_failed",
        "crash",
        False,
    )
    assert (dead["event"], dead["reason"], dead["attempts"]) == ("task_dead_lettered", "lost", 1)
    assert client.hexists(store.keys.of("dlq"), "job-000001")


def test_a_lost_lease_is_delivered_again_while_the_task_types_own_max_attempts_allows(
    make_store: Any, client: redis.Redis
) -> None:
    """The scenario allows 3 attempts, type `once` only 1: its lost attempt ends it (lost),
    while the `job` that lost its lease at the same time is delivered again."""
    store, _ = make_store(
        visibility_timeout="50ms",
        retry={"max_attempts": 3},
        task_types={
            "job": {"priority": 5},
            "once": {"priority": 5, "retry": {"max_attempts": 1}},
        },
    )
    store.submit(1, [("job-000001", "job", 5, False), ("once-000001", "once", 5, False)])
    _, names = store.join(2, "test")
    for name in names:
        store.work(name, [], 1)
    _silent_until(client, store, "task_dead_lettered")
    events = _silent_until(client, store, "task_redelivered")
    dead = [
        (e["task_id"], e["reason"], e["attempts"])
        for e in events
        if e["event"] == "task_dead_lettered"
    ]
    assert dead == [("once-000001", "lost", 1)]
    redelivered = [e["task_id"] for e in events if e["event"] == "task_redelivered"]
    assert redelivered == ["job-000001"]


def test_a_retry_waits_for_its_backoff_then_is_ready_again(
    make_store: Any, client: redis.Redis
) -> None:
    """A failure with a 60ms delay: nothing to claim at once, attempt 2 once it is due."""
    store, _ = make_store()
    store.submit(1, [("job-000001", "job", 5, False)])
    _, (name,) = store.join(1, "test")
    store.work(name, [], 1)
    failure = [("job-000001", 1, False, "network", "injected network failure", True, 0.06, "")]
    assert store.work(name, failure, 1).attempts == []
    time.sleep(0.08)
    assert store.work(name, [], 1).attempts == [("job-000001", 2)]
    names = [e["event"] for e in _events(client, store) if e["event"].startswith("task_")]
    assert names[-3:] == ["task_failed", "task_retry_ready", "task_started"]


def test_a_retried_submit_call_submits_nothing_twice(make_store: Any, client: redis.Redis) -> None:
    """The same coordinator operation applied twice (a reply lost, the call retried)."""
    store, _ = make_store()
    tasks = [("job-000001", "job", 5, False), ("job-000002", "job", 5, False)]
    assert store.submit(1, tasks) == 2
    assert store.submit(1, tasks) == 0
    assert _counts(client, store)["submitted"] == 2


def test_workers_that_leave_give_their_leases_back_at_once(
    make_store: Any, client: redis.Redis
) -> None:
    """A worker leaving mid-attempt: the task is redelivered without waiting for expiry."""
    store, _ = make_store()
    store.submit(1, [("job-000001", "job", 5, False)])
    _, (first, second) = store.join(2, "test")
    store.work(first, [], 1)
    store.leave("lost", [first], [("job-000001", 1, first)])
    assert store.work(second, [], 1).attempts == [("job-000001", 2)]
    names = [e["event"] for e in _events(client, store)]
    assert names[-3:] == ["task_redelivered", "worker_stopped", "task_started"]


def test_a_copy_run_after_the_task_ended_is_a_counted_duplicate_that_changes_nothing(
    make_store: Any, client: redis.Redis
) -> None:
    """The late success ends the task; its redelivered copy still runs, and its failure
    is logged as a duplicate: no retry, no DLQ, the fold agrees with Redis's counters."""
    store, _ = make_store(visibility_timeout="100ms")
    store.submit(1, [("job-000001", "job", 5, False)])
    _, (first,) = store.join(1, "test")
    store.work(first, [], 1)
    _silent_until(client, store, "task_redelivered")
    store.work(first, _success("job-000001", 1), 0)
    _, (second,) = store.join(1, "test")
    assert store.work(second, [], 1).attempts == [("job-000001", 2)]
    failure = [("job-000001", 2, False, "network", "injected network failure", True, 0.01, "")]
    assert store.work(second, failure, 1).attempts == []
    events = _events(client, store)
    failed = events[-1]
    assert (failed["event"], failed["duplicate"], failed["will_retry"]) == (
        "task_failed",
        True,
        False,
    )
    assert not client.zcard(store.keys.of("delayed"))
    state = RunState().apply_all(events)
    assert state.duplicates == 1
    counts = _counts(client, store)
    folded = state.totals()
    assert {key: folded[key] for key in counts} == counts
    assert (folded["succeeded"], folded["failed"], folded["pending"]) == (1, 1, 0)


def test_a_pause_of_redis_as_long_as_the_visibility_timeout_loses_no_worker(
    make_store: Any, client: redis.Redis
) -> None:
    """No tick for a whole visibility timeout (Redis, or the coordinator, was paused):
    the silent time is given back, so a worker that speaks again is not presumed dead."""
    store, _ = make_store(visibility_timeout="200ms")
    store.submit(1, [("job-000001", "job", 5, False)])
    _, (name,) = store.join(1, "test")
    store.tick("lost")
    store.work(name, [], 1)
    time.sleep(0.3)  # longer than the timeout: nobody ticked, nobody renewed
    store.tick("lost")
    store.heartbeat([name], [("job-000001", 1, name)])
    store.tick("lost")
    names = [e["event"] for e in _events(client, store)]
    assert "worker_crashed" not in names and "task_redelivered" not in names
    assert store.work(name, _success("job-000001", 1), 0).state == "running"
    assert _counts(client, store)["succeeded"] == 1


def test_hundreds_of_threads_can_block_on_redis_at_once(redis_url: str, namespace: str) -> None:
    """150 workers waiting for work (or their turn in a line) at the same time each hold a
    connection: the connection's pool must not run out (the client's default is 100)."""
    # No riding out: a pool that ran out would be hidden by retrying until others finish.
    conn = RedisConnection(redis_url, client_name=f"dtq:{namespace}:test", ride_out_s=0.0)
    store = RunStore(conn, RunKeys(namespace, "many"))
    failures: list[BaseException] = []
    barrier = threading.Barrier(150)

    def wait() -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT_S)
            store.wait_turn("w01", 0.5)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=wait) for _ in range(150)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_S)
    conn.close()
    assert not failures, failures[0]
