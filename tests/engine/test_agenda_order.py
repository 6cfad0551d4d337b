"""One agenda, one order: the virtual and threaded engines carry out same-instant
arrivals, retry releases, fault edges and restarts in the same order.

The threaded engine runs on a hand-moved clock: every action of the scenario falls at
0s or 1s, so when the clock is moved to 1s, arrivals, two due retries, an outage's
start, a crash fault and the restart it plans are all due at once, and the order the
engine carries them out in is the agenda's tie order alone.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson

from dtq.core.workload import iter_tasks
from dtq.engine.threaded import ThreadedEngine
from dtq.events import (
    FAULT_ENDED,
    FAULT_STARTED,
    TASK_RETRY_READY,
    TASK_SUBMITTED,
    WORKER_CRASHED,
    WORKER_RESTARTED,
)
from dtq.log.sink import EventSink
from dtq.scenario.compile import compile_plan
from tests.helpers import MemoryFile, run_virtual, scenario

JOIN_TIMEOUT_S = 30.0
# The events that agenda actions write (attempts interleave differently on real threads).
AGENDA_EVENTS = {
    TASK_SUBMITTED,
    TASK_RETRY_READY,
    FAULT_STARTED,
    FAULT_ENDED,
    WORKER_CRASHED,
    WORKER_RESTARTED,
}


def _model() -> Any:
    return scenario(
        workers=2,
        retry={"max_attempts": 2, "backoff": "fixed", "base_delay": "1s"},
        task_types={
            "flaky": {"priority": 1, "failures": {"boom": 1.0}},
            "job": {"priority": 5},
        },
        arrivals=[
            {"pattern": "burst", "task": "flaky", "count": 2},
            {"pattern": "burst", "task": "job", "count": 2, "at": "1s"},
        ],
        faults=[
            {
                "kind": "outage",
                "from": "1s",
                "until": "2s",
                "error": "boom",
                "rate": 1.0,
                "tasks": ["flaky"],
            },
            {"kind": "worker_crash", "at": "1s", "workers": 1, "restart_after": "0s"},
        ],
    )


class HandClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _wait_until(engine: ThreadedEngine, condition: Any) -> None:
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while time.monotonic() < deadline:
        with engine.lock:
            if condition(engine.sched):
                return
        time.sleep(0.01)
    raise AssertionError("the threaded engine never reached the expected state")


def _threaded_events(model: Any) -> list[dict[str, Any]]:
    plan = compile_plan(model)
    file = MemoryFile()
    sink = EventSink(file)
    clock = HandClock()
    engine = ThreadedEngine(plan, iter_tasks(plan), sink, clock=clock)
    status: list[str] = []
    thread = threading.Thread(target=lambda: status.append(engine.run()), daemon=True)
    thread.start()
    # Both flaky tasks failed at 0s and wait for their retry at 1s; nothing runs.
    _wait_until(engine, lambda s: s.waiting_retries == 2 and all(a is None for a in s.current))
    clock.t = 1.0
    thread.join(JOIN_TIMEOUT_S)
    assert not thread.is_alive(), "the threaded run did not end"
    assert status == ["completed"]
    sink.close()
    return [orjson.loads(line) for line in file.saved.splitlines()]


def _agenda_order(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["t"], e["event"], e.get("task_id") or e.get("worker") or e.get("fault"))
        for e in events
        if e["event"] in AGENDA_EVENTS
    ]


def test_same_instant_actions_run_in_one_order_on_both_engines() -> None:
    """Fault edges, then the restart, then due retries, then arrivals: on both clocks."""
    model = _model()
    status, virtual, _ = run_virtual(model)
    assert status == "completed"
    expected = [
        (0.0, "task_submitted", "flaky-000001"),
        (0.0, "task_submitted", "flaky-000002"),
        (1.0, "fault_started", 0),
        (1.0, "fault_started", 1),
        (1.0, "worker_crashed", "w01"),
        (1.0, "fault_ended", 1),
        (1.0, "worker_restarted", "w01"),
        (1.0, "task_retry_ready", "flaky-000001"),
        (1.0, "task_retry_ready", "flaky-000002"),
        (1.0, "task_submitted", "job-000001"),
        (1.0, "task_submitted", "job-000002"),
        (1.0, "fault_ended", 0),  # the outage still open when the work is done
    ]
    assert _agenda_order(virtual) == expected
    assert _agenda_order(_threaded_events(model)) == expected
