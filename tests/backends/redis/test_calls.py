"""The call script against a real Redis: slots, the line's order, queue_limit, the token
bucket, the optimistic record, and what happens to the call of an attempt that ends early.

Each test drives the scripts by hand, one step at a time, so the order of events is
exactly the order of the steps; latencies are long enough that no call ends on its own
before the test says so, or short enough that it has ended when the test looks again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from dtq.backends.redis.conn import RedisConnection
from dtq.backends.redis.store import RunKeys, RunStore
from dtq.backends.redis.wire import decode_entry
from dtq.engine.distributed import dependency_records, run_settings
from dtq.scenario import LoadedScenario
from dtq.scenario.compile import compile_plan
from tests.helpers import scenario

Event = dict[str, Any]
LONG = "60s"  # a service that does not end during a test
SHORT_S = 0.05  # a service that has ended when the test looks again (time_scale 1)


@pytest.fixture
def calls_store(redis_url: str, namespace: str) -> Iterator[Any]:
    """A run with one dependency `db` (its settings given) and `count` workers, each
    holding the first attempt of its own task: returns (store, [(worker, task id)])."""
    conns: list[RedisConnection] = []

    def make(count: int, **db: Any) -> tuple[RunStore, list[tuple[str, str]]]:
        model = scenario(
            clock="real",
            backend=redis_url,
            dependencies={"db": db},
            task_types={"job": {"steps": [{"call": "db"}]}},
            arrivals=[{"pattern": "burst", "task": "job", "count": count}],
        )
        plan = compile_plan(model)
        conn = RedisConnection(redis_url, client_name=f"dtq:{namespace}:test", ride_out_s=1.0)
        conns.append(conn)
        store = RunStore(conn, RunKeys(namespace, f"calls{len(conns)}"))
        store.create(run_settings(LoadedScenario(Path("t.yaml"), "t", model, "0" * 64), plan))
        store.dependencies(dependency_records(plan))
        tasks = [(f"job-{i:06d}", "job", 1, False) for i in range(count)]
        store.submit(1, tasks)
        _, names = store.join(count, "test")
        held = []
        for name in names:
            (attempt,) = store.work(name, [], 1).attempts
            held.append((name, attempt[0]))
        return store, held

    yield make
    for conn in conns:
        conn.close()


def _offer(store: RunStore, worker: str, task_id: str, service_s: float = 60.0) -> list[str]:
    return store.offer_call(worker, f"{task_id}#1#0", (task_id, 1), 0, service_s, 0.5, None)


def _calls(client: redis.Redis, store: RunStore) -> list[Event]:
    entries: Any = client.xrange(store.keys.of("events"))
    events = [event for _, fields in entries for event in decode_entry(fields["e"])]
    return [e for e in events if e["event"] in ("call_started", "call_ended")]


def test_calls_wait_in_line_and_get_freed_slots_first_come_first_served(
    calls_store: Any, client: redis.Redis
) -> None:
    """One slot: the first call starts, the next two wait; each freed slot goes to the
    head of the line, whose worker hears it on its turn list."""
    store, held = calls_store(3, concurrency=1, latency=LONG)
    (w1, t1), (w2, t2), (w3, t3) = held
    assert _offer(store, w1, t1, SHORT_S)[0] == "started"
    assert _offer(store, w2, t2, SHORT_S) == ["line"]
    assert _offer(store, w3, t3, SHORT_S) == ["line"]
    time.sleep(SHORT_S * 2)
    assert store.end_call(w1, f"{t1}#1#0", (t1, 1)) == ["ok"]
    token = store.wait_turn(w2, 1.0)
    assert token is not None and token.startswith(f"{t2}#1#0 ")
    assert store.wait_turn(w3, 0.01) is None  # still in line behind w2's call
    events = _calls(client, store)
    started = [e["task_id"] for e in events if e["event"] == "call_started"]
    assert started == [t1, t2]
    assert all(e["in_flight"] <= 1 for e in events)
    assert [e["line"] for e in events if e["event"] == "call_started"] == [0, 1]


def test_a_call_finding_the_line_at_its_limit_is_overloaded(
    calls_store: Any, client: redis.Redis
) -> None:
    """queue_limit 1: the third call finds one in service and one in line: turned away."""
    store, held = calls_store(3, concurrency=1, latency=LONG, queue_limit=1)
    (w1, t1), (w2, t2), (w3, t3) = held
    assert _offer(store, w1, t1)[0] == "started"
    assert _offer(store, w2, t2) == ["line"]
    assert _offer(store, w3, t3) == [
        "rejected",
        "overloaded",
        "db turned the call away (overloaded)",
        "",
    ]


def test_an_empty_token_bucket_throttles_and_says_when_a_token_is_due(
    calls_store: Any, client: redis.Redis
) -> None:
    """rate 1/s, burst 1: the first call takes the token, the second is throttled with a
    retry_after of under a second (the bucket refills on the run clock)."""
    store, held = calls_store(2, latency=LONG, rate_limit={"rate": 1, "burst": 1})
    (w1, t1), (w2, t2) = held
    assert _offer(store, w1, t1)[0] == "started"
    reply = _offer(store, w2, t2)
    assert reply[:2] == ["rejected", "throttled"]
    assert 0.5 < float(reply[3]) <= 1.0


def test_an_optimistic_record_fails_the_call_that_read_a_version_another_wrote(
    calls_store: Any, client: redis.Redis
) -> None:
    """Two calls read version 0 at once; the first to end writes it, the second conflicts."""
    store, held = calls_store(2, latency=LONG, mode="optimistic")
    (w1, t1), (w2, t2) = held
    assert _offer(store, w1, t1, SHORT_S)[0] == "started"
    assert _offer(store, w2, t2, SHORT_S * 2)[0] == "started"
    time.sleep(SHORT_S * 3)
    assert store.end_call(w1, f"{t1}#1#0", (t1, 1)) == ["ok"]
    assert store.end_call(w2, f"{t2}#1#0", (t2, 1)) == ["conflict"]
    outcomes = [e["outcome"] for e in _calls(client, store) if e["event"] == "call_ended"]
    assert outcomes == ["ok", "conflict"]


@pytest.mark.parametrize(("abandoned", "logged"), [("continue", []), ("cancel", ["cancelled"])])
def test_the_call_of_a_worker_that_leaves_stays_or_is_cancelled(
    calls_store: Any, client: redis.Redis, abandoned: str, logged: list[str]
) -> None:
    """Its attempt is handed back (as a lost lease): with continue its call keeps its slot
    and is served for nobody later; with cancel it is dropped at once and frees the slot."""
    store, held = calls_store(2, concurrency=1, latency=LONG, abandoned=abandoned)
    (w1, t1), (w2, t2) = held
    assert _offer(store, w1, t1, SHORT_S * 2)[0] == "started"
    assert _offer(store, w2, t2, SHORT_S)[0] == "line"
    store.leave("lost", [w1], [(t1, 1, w1)])
    events = _calls(client, store)
    assert [e["outcome"] for e in events if e["event"] == "call_ended"] == logged
    if abandoned == "cancel":
        assert [e["task_id"] for e in events if e["event"] == "call_started"] == [t1, t2]
        return
    time.sleep(SHORT_S * 3)
    store.tick("lost")  # the coordinator's tick ends what is due
    ended = [e for e in _calls(client, store) if e["event"] == "call_ended"]
    assert [(e["task_id"], e["outcome"]) for e in ended] == [(t1, "abandoned")]
    assert store.wait_turn(w2, 1.0) is not None  # the freed slot went to the line


def test_the_run_clock_times_out_a_call_whose_worker_is_late_to_notice(
    calls_store: Any, client: redis.Redis
) -> None:
    """A call in line past its attempt's timeout is abandoned (here cancelled) by the next
    tick, without a word from its worker, which then learns `timeout`; an attempt whose
    time ran out before it called does not call at all."""
    store, held = calls_store(3, concurrency=1, latency=LONG, abandoned="cancel")
    (w1, t1), (w2, t2), (w3, t3) = held
    assert _offer(store, w1, t1)[0] == "started"
    line = store.offer_call(w2, f"{t2}#1#0", (t2, 1), 0, 60.0, 0.5, SHORT_S)
    assert line == ["line"]
    time.sleep(SHORT_S * 2)
    store.tick("lost")
    ended = [e for e in _calls(client, store) if e["event"] == "call_ended"]
    assert [(e["task_id"], e["outcome"], e["served_s"]) for e in ended] == [(t2, "cancelled", None)]
    assert store.end_call(w2, f"{t2}#1#0", (t2, 1)) == ["timeout"]
    late = store.offer_call(w3, f"{t3}#1#0", (t3, 1), 0, 60.0, 0.5, SHORT_S)
    assert late == ["timeout"]
