"""Redis workers decide attempts as the memory scheduler does (no Redis needed here)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from dtq.backends.redis.wire import WIRE, decode_entry, encode_whole
from dtq.core.attempts import draw_attempt, failure_decision, parse_task_id
from dtq.core.scheduler import Scheduler
from dtq.core.workload import iter_tasks
from dtq.scenario.compile import compile_plan
from tests.helpers import scenario

Event = dict[str, Any]
# error, message, will_retry, retry_at, run_s, duplicate
DUPLICATE_FAILURE = ["io", "m", False, None, 1, True]


def _model() -> Any:
    return scenario(
        seed=9,
        retry={"max_attempts": 4, "jitter": "full", "retry_on": ["network", "timeout"]},
        task_types={
            "mail": {
                "priority": 2,
                "duration": {"dist": "exponential", "mean": "30ms"},
                "timeout": "60ms",
                "failures": {"network": 0.2, "bad_input": 0.05},
            },
            "ping": {"priority": 6, "failures": {"network": 0.1}},
        },
        arrivals=[
            {"pattern": "burst", "task": "mail", "count": 150},
            {"pattern": "burst", "task": "ping", "count": 150},
        ],
        faults=[
            {"kind": "outage", "from": "0s", "until": "1s", "error": "network", "rate": 0.5},
            {"kind": "outage", "from": "0s", "until": "1s", "error": "db", "rate": 0.3},
        ],
    )


@pytest.mark.parametrize("outages", [0, 1, 2])
def test_outcomes_and_retry_decisions_match_the_memory_scheduler(outages: int) -> None:
    """For every task and attempt: the same duration, error, message, retry and backoff."""
    model = _model()
    plan = compile_plan(model)
    emitted: list[Event] = []
    sched = Scheduler(plan, emitted.append, workers=1)
    for outage in plan.outages[:outages]:
        sched.outage_started(outage, 0.0)
    active = plan.outages[:outages]
    for _, task in iter_tasks(plan):
        for number in range(1, 4):
            sched.ready.push(task, 0.0)
            attempt = sched.start_next(0, 1.0)
            assert attempt is not None and attempt.number == number
            outcome = draw_attempt(task.kind, task.key, number, active)
            assert outcome == (
                attempt.run_s,
                attempt.error,
                attempt.message,
            )
            sched.finish(attempt, 2.0)
            if attempt.error is None:
                break
            failed = next(e for e in reversed(emitted) if e["event"] == "task_failed")
            decision = failure_decision(plan.retry, task.key, number, attempt.error)
            assert failed["will_retry"] == decision.retry
            assert failed["retry_at"] == (
                round(2.0 + decision.delay_s, 6) if decision.retry else None
            )
            if not decision.retry:
                break
            sched.agenda.pop()  # the retry: this test queues the next attempt itself
            sched.waiting_retries -= 1


def test_a_task_id_gives_back_its_type_and_key() -> None:
    """Workers rebuild a task from its id alone: the same key the workload gave it."""
    model = _model()
    plan = compile_plan(model)
    for _, task in iter_tasks(plan):
        assert parse_task_id(plan, task.id) == (task.kind, task.key)
    for bad in ("mail", "nope-000001", "mail-12a", "-000001"):
        with pytest.raises(ValueError):
            parse_task_id(plan, bad)


def test_only_a_constant_zero_duration_is_instant() -> None:
    """Attempts are batched only when none of them can take any time."""
    plan = compile_plan(_model())
    assert plan.kinds["ping"].is_instant()
    assert not plan.kinds["mail"].is_instant()


def test_wire_events_decode_to_the_memory_field_order() -> None:
    """A stream entry becomes events with seq, t, event first, seconds as floats."""
    entry = orjson.dumps(
        [
            ["task_started", 1.5, "mail-000001", "mail", 2, 1, "w01", 0],
            ["task_failed/duplicate", 2, "mail-000001", "mail", 2, 1, "w01", *DUPLICATE_FAILURE],
            ["=", 3, encode_whole({"seq": 0, "t": 0, "event": "fault_ended", "fault": 0})],
        ]
    )
    started, failed, fault = decode_entry(entry)
    assert list(started) == ["seq", "t", "event", *WIRE["task_started"][1]]
    assert started["wait_s"] == 0.0 and isinstance(started["wait_s"], float)
    assert (failed["event"], failed["duplicate"], failed["run_s"]) == ("task_failed", True, 1.0)
    assert failed["retry_at"] is None
    assert fault == {"seq": 0, "t": 3.0, "event": "fault_ended", "fault": 0}
