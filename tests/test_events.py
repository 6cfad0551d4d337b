"""Each event's fields are listed once (dtq.events.FIELDS) and what dtq writes follows it."""

from __future__ import annotations

import pytest

from dtq import events as ev
from tests.helpers import run_virtual, scenario


def test_the_scheduler_writes_each_event_s_fields_in_the_listed_order() -> None:
    model = scenario(
        workers=2,
        retry={"max_attempts": 2, "backoff": "fixed", "base_delay": "10ms"},
        task_types={
            "job": {
                "priority": 5,
                "duration": {"dist": "constant", "value": "10ms"},
                "failures": {"network": 0.5},
            }
        },
        arrivals=[{"pattern": "burst", "task": "job", "count": 40}],
        faults=[{"kind": "worker_crash", "at": "15ms", "workers": 1, "restart_after": "20ms"}],
    )
    _, events, _ = run_virtual(model)
    seen = set()
    for event in events:
        name = event["event"]
        listed = [key for key, _ in ev.FIELDS[name]]
        written = list(event)[3:]
        if name != ev.FAULT_STARTED:  # a fault's own settings follow its listed fields
            assert written == [key for key in listed if key in event], event
        assert set(ev.REQUIRED_FIELDS[name]) <= set(written), event
        seen.add(name)
    assert {ev.TASK_FAILED, ev.TASK_RETRY_READY, ev.TASK_DEAD_LETTERED, ev.WORKER_CRASHED} <= seen


def test_required_fields_are_the_listed_fields_that_are_not_optional() -> None:
    assert ev.REQUIRED_FIELDS[ev.TASK_DEAD_LETTERED] == {
        "task_id": str,
        "type": str,
        "priority": int,
        "reason": str,
        "attempts": int,
        "last_error": str,
    }


@pytest.mark.parametrize(
    ("counts", "pending"), [({"submitted": 5, "succeeded": 2, "dead_lettered": 1}, 2), ({}, 0)]
)
def test_run_totals_derive_pending_in_the_written_order(
    counts: dict[str, int], pending: int
) -> None:
    totals = ev.run_totals(counts)
    assert list(totals) == list(ev.TOTAL_KEYS)
    assert totals["pending"] == pending
