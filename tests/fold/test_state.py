"""The reducer: exact counts, queue depths, worker states, DLQ entries and percentiles."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtq.fold.state import (
    BUSY,
    CRASHED,
    IDLE,
    STOPPED,
    RunState,
    WaitStats,
    fold_events,
    nearest_rank,
)
from tests.eventlog_factory import (
    DUPLICATE_RUNS,
    Event,
    LogBuilder,
    redelivered_log,
    small_log,
)
from tests.helpers import run_virtual, scenario


def snapshot(state: RunState) -> dict[str, Any]:
    """Everything a reader of the state sees, as plain data (for equality checks)."""
    return {
        "meta": state.meta,
        "seq": state.seq,
        "t": state.t,
        "totals": state.totals(),
        "by_priority": {p: asdict(c) for p, c in state.by_priority.items()},
        "by_type": {n: asdict(c) for n, c in state.by_type.items()},
        "workers": {n: asdict(w) for n, w in state.workers.items()},
        "dlq": dict(state.dlq),
        "faults": (dict(state.active_faults), list(state.faults_seen)),
        "waits": {k: list(v) for k, v in state.waits_by_priority.items()},
        "type_waits": {k: list(v) for k, v in state.waits_by_type.items()},
        "throughput": state.throughput_history(),
        "duplicates": state.duplicates,
        "finished": state.finished,
    }


def started_log() -> LogBuilder:
    """A builder with run_started and two workers, ready for task events."""
    b = LogBuilder()
    b.run_started()
    b.emit(0.0, "worker_started", worker="w01")
    b.emit(0.0, "worker_started", worker="w02")
    return b


# -- totals and counts ------------------------------------------------------------------


def test_folding_the_small_log_gives_the_run_finished_totals() -> None:
    b = small_log()
    state = fold_events(b.events)
    assert state.finished is not None
    assert state.totals() == state.finished["totals"] == b.totals
    assert state.status == "completed"
    assert state.totals()["submitted"] == 4
    assert (state.succeeded, state.dead_lettered, state.retrying, state.queued) == (3, 1, 0, 0)


def test_totals_have_exactly_the_run_finished_keys() -> None:
    keys = {"submitted", "succeeded", "dead_lettered", "pending", "started", "failed"}
    assert set(RunState().totals()) == keys | {"retried", "redelivered"}


def test_queue_depth_counts_ready_tasks_per_priority() -> None:
    b = started_log()
    for task_id in ("email-000000", "email-000001", "report-000002"):
        b.submit(1.0, task_id)
    b.start(1.5, "email-000000", "w01")
    state = fold_events(b.events)
    assert state.by_priority[2].queued == 1
    assert state.by_priority[8].queued == 1
    assert (state.queued, state.running) == (2, 1)


def test_an_expired_task_leaves_the_queue_when_it_is_dead_lettered() -> None:
    # Ten tasks of 100 ms on one worker, each given 250 ms to start: most expire queued.
    model = scenario(
        workers=1,
        task_types={
            "job": {
                "priority": 5,
                "duration": {"dist": "constant", "value": "100ms"},
                "expires": "250ms",
            }
        },
    )
    status, events, _ = run_virtual(model)
    state = fold_events(events)
    expired = [e for e in state.dlq.values() if e.reason == "expired"]
    assert status == "completed" and len(expired) == 7
    assert (state.queued, state.by_type["job"].queued, state.running) == (0, 0, 0)


def test_a_retry_waits_in_retrying_then_is_queued_again() -> None:
    b = started_log()
    b.submit(1.0, "email-000000")
    b.start(1.0, "email-000000", "w01")
    b.fail(1.5, "email-000000", "w01", error="network", run_s=0.5, retry_at=2.0)
    state = fold_events(b.events)
    assert (state.retrying, state.queued, state.running) == (1, 0, 0)
    b.retry_ready(2.0, "email-000000")
    state = fold_events(b.events)
    assert (state.retrying, state.queued) == (0, 1)
    assert state.by_type["email"].retried == 1


def test_per_type_counters_follow_each_task_type() -> None:
    state = fold_events(small_log().events)
    email, report = state.by_type["email"], state.by_type["report"]
    assert (email.submitted, email.succeeded, email.dead_lettered, email.failed) == (3, 2, 1, 2)
    assert (report.submitted, report.succeeded, report.failed, report.retried) == (1, 1, 1, 1)


def test_failures_are_counted_by_error_kind() -> None:
    state = fold_events(small_log().events)
    assert state.failures_by_error == {"network": 1, "bad_input": 1, "crash": 1}


# -- workers ------------------------------------------------------------------------------


def test_a_worker_is_busy_with_its_attempt_then_idle() -> None:
    b = started_log()
    b.submit(1.0, "email-000000")
    b.start(1.25, "email-000000", "w01")
    row = fold_events(b.events).workers["w01"]
    assert (row.state, row.task_id, row.priority, row.attempt, row.since_t) == (
        BUSY,
        "email-000000",
        2,
        1,
        1.25,
    )
    b.succeed(1.5, "email-000000", "w01", run_s=0.25)
    row = fold_events(b.events).workers["w01"]
    assert (row.state, row.task_id, row.done, row.busy_s) == (IDLE, None, 1, 0.25)


def test_a_crashed_worker_stays_crashed_through_its_tasks_failure() -> None:
    b = started_log()
    b.submit(1.0, "report-000000")
    b.start(1.0, "report-000000", "w02")
    b.emit(2.0, "worker_crashed", worker="w02", task_id="report-000000")
    b.fail(2.0, "report-000000", "w02", error="crash", run_s=1.0, retry_at=2.5)
    row = fold_events(b.events).workers["w02"]
    assert (row.state, row.task_id, row.failures, row.crashes) == (CRASHED, None, 1, 1)
    b.emit(3.0, "worker_restarted", worker="w02")
    b.emit(4.0, "worker_stopped", worker="w01")
    state = fold_events(b.events)
    assert state.workers["w02"].state == IDLE
    assert state.workers["w01"].state == STOPPED


def test_worker_table_of_the_small_log() -> None:
    workers = fold_events(small_log().events).workers
    assert (workers["w01"].done, workers["w01"].failures, workers["w01"].busy_s) == (3, 2, 2.25)
    assert (workers["w02"].done, workers["w02"].failures, workers["w02"].crashes) == (0, 1, 1)


# -- dead letters and faults --------------------------------------------------------------


def test_a_dead_lettered_task_is_kept_with_its_entry() -> None:
    entry = fold_events(small_log().events).dlq["email-000003"]
    assert (entry.type, entry.priority, entry.reason, entry.attempts) == (
        "email",
        2,
        "non_retryable",
        1,
    )
    assert (entry.last_error, entry.t, entry.first_failed_t) == ("bad_input", 3.25, 3.25)


def test_an_outage_is_active_between_its_start_and_end() -> None:
    events = small_log().events
    during = fold_events(e for e in events if e["t"] <= 2.5)
    assert [f.kind for f in during.active_faults.values()] == ["outage"]
    assert during.active_faults[0].error == "network"
    after = fold_events(e for e in events if e["t"] <= 3.0)
    assert not after.active_faults
    assert len(after.faults_seen) == 1


def test_a_worker_crash_fault_ends_when_no_worker_is_down() -> None:
    b = started_log()
    b.emit(1.0, "fault_started", fault=0, kind="worker_crash", workers=1, restart_after=1.0)
    b.emit(1.0, "worker_crashed", worker="w01", task_id=None)
    assert fold_events(b.events).active_faults[0].workers == 1
    b.emit(2.0, "worker_restarted", worker="w01")
    assert not fold_events(b.events).active_faults


# -- redelivery ---------------------------------------------------------------------------


def test_a_run_after_a_redelivered_task_succeeded_counts_as_a_duplicate() -> None:
    b = started_log()
    b.submit(0.0, "email-000000")
    b.start(0.0, "email-000000", "w01")
    b.redeliver(1.0, "email-000000", lost_worker="w01")
    b.succeed(1.5, "email-000000", "w01", run_s=1.5)  # the lost worker finished after all
    b.start(2.0, "email-000000", "w02")
    b.succeed(2.5, "email-000000", "w02", run_s=0.5)  # the same task again: not counted
    state = fold_events(b.events)
    assert state.duplicates == 1
    assert state.totals()["succeeded"] == 1
    assert state.totals()["redelivered"] == 1
    assert state.totals()["pending"] == 0


def test_a_redelivered_task_is_queued_again_and_leaves_its_lost_worker() -> None:
    b = started_log()
    b.submit(0.0, "email-000000")
    b.start(0.0, "email-000000", "w01")
    b.redeliver(1.0, "email-000000", lost_worker="w01")
    state = fold_events(b.events)
    assert (state.queued, state.workers["w01"].task_id) == (1, None)


# -- waits and throughput -----------------------------------------------------------------


def test_nearest_rank_percentiles_are_exact() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [nearest_rank(values, p) for p in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert nearest_rank([0.1, 0.2, 0.3, 0.4, 0.5], 50) == 0.3
    assert nearest_rank([0.1, 0.2, 0.3, 0.4, 0.5], 95) == 0.5
    assert nearest_rank([7.0], 50) == 7.0


def test_wait_stats_per_priority_and_type_use_every_wait() -> None:
    b = started_log()
    for index, wait_s in enumerate((0.5, 0.1, 0.4, 0.2, 0.3)):
        task_id = f"email-{index:06d}"
        b.submit(0.0, task_id)
        b.start(wait_s, task_id, "w01")
    state = fold_events(b.events)
    expected = WaitStats(count=5, mean=0.3, p50=0.3, p95=0.5, p99=0.5, max=0.5)
    assert state.wait_stats(2) == expected
    assert state.wait_stats("email") == expected
    assert state.wait_stats(8).count == 0
    assert state.wait_stats("nope").count == 0


def test_wait_stats_stay_exact_as_waits_keep_coming() -> None:
    b = started_log()
    state = RunState()
    waits: list[float] = []
    for index in range(1, 201):
        task_id = f"email-{index:06d}"
        b.submit(0.0, task_id)
        wait_s = float((index * 37) % 101)
        b.start(wait_s, task_id, "w01")
        waits.append(wait_s)
        state.apply_all(b.events[-2:] if index > 1 else b.events)
        if index in (1, 2, 20, 101, 200):
            ordered = sorted(waits)
            stats = state.wait_stats(2)
            assert stats.p50 == ordered[math.ceil(len(ordered) * 0.50) - 1]
            assert stats.p99 == ordered[math.ceil(len(ordered) * 0.99) - 1]
            assert (stats.count, stats.max) == (index, max(waits))


def test_throughput_history_counts_successes_per_second() -> None:
    b = started_log()
    for index in range(10):
        task_id = f"email-{index:06d}"
        b.submit(float(index), task_id)
        b.start(float(index), task_id, "w01")
        b.succeed(index + 0.5, task_id, "w01", run_s=0.5)
    state = fold_events(b.events)
    assert state.throughput_history() == [1] * 10


# -- robustness ---------------------------------------------------------------------------


def test_unknown_events_and_fields_are_skipped() -> None:
    events = small_log().events
    noisy: list[Event] = []
    for event in events:
        noisy.append({**event, "new_field": [1, 2]})
        noisy.append({"seq": event["seq"], "t": event["t"], "event": "task_teleported"})
    assert fold_events(noisy).totals() == fold_events(events).totals()


def test_apply_returns_the_state_it_folded_into() -> None:
    state = RunState()
    for event in small_log().events:
        assert state.apply(event) is state
    assert state.totals() == small_log().totals


def test_an_empty_state_is_waiting_with_zero_totals() -> None:
    state = RunState()
    assert state.status == "waiting"
    assert set(state.totals().values()) == {0}


# -- properties ---------------------------------------------------------------------------

ENDINGS = ("succeeded", "dead_lettered", "queued", "running", "retrying")


@st.composite
def lifecycles(draw: st.DrawFn) -> tuple[list[Event], dict[str, int], int]:
    """Random valid task lifecycles, interleaved; returns events, totals and running count."""
    b = LogBuilder()
    b.run_started()
    per_task: list[list[tuple[str, str, dict[str, Any]]]] = []
    running = 0
    count = draw(st.integers(min_value=0, max_value=12))
    for index in range(count):
        task_id = f"{draw(st.sampled_from(('email', 'report')))}-{index:06d}"
        worker = f"w{index:02d}"
        steps: list[tuple[str, str, dict[str, Any]]] = [("submit", task_id, {})]
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            steps.append(("start", task_id, {"worker": worker}))
            fail = {"worker": worker, "error": "network", "run_s": 0.1, "retry_at": 1.0}
            steps.append(("fail", task_id, fail))
            steps.append(("retry_ready", task_id, {}))
        ending = draw(st.sampled_from(ENDINGS))
        running += ending == "running"
        if ending in ("succeeded", "dead_lettered", "running", "retrying"):
            steps.append(("start", task_id, {"worker": worker}))
        if ending == "succeeded":
            steps.append(("succeed", task_id, {"worker": worker, "run_s": 0.1}))
        elif ending in ("dead_lettered", "retrying"):
            retry_at = 1.0 if ending == "retrying" else None
            fields = {"worker": worker, "error": "network", "run_s": 0.1, "retry_at": retry_at}
            steps.append(("fail", task_id, fields))
        if ending == "dead_lettered":
            steps.append(("dead_letter", task_id, {"reason": "exhausted"}))
        per_task.append(steps)
    t = 0.0
    while any(per_task):
        lane = draw(st.sampled_from([steps for steps in per_task if steps]))
        action, task_id, fields = lane.pop(0)
        t += 0.25
        getattr(b, action)(t, task_id, **fields)
    b.run_finished(t, status="interrupted")
    return b.events, b.events[-1]["totals"], running


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(lifecycles())
def test_every_task_is_succeeded_dead_lettered_or_pending(
    case: tuple[list[Event], dict[str, int], int],
) -> None:
    events, totals, running = case
    state = fold_events(events)
    got = state.totals()
    assert got == totals
    assert got["submitted"] == got["succeeded"] + got["dead_lettered"] + got["pending"]
    assert state.queued + state.retrying + running == got["pending"]


@settings(max_examples=100, deadline=None)
@given(lifecycles())
def test_events_survive_a_json_round_trip(case: tuple[list[Event], dict[str, int], int]) -> None:
    events, _, _ = case
    round_tripped = [orjson.loads(orjson.dumps(event)) for event in events]
    assert snapshot(fold_events(round_tripped)) == snapshot(fold_events(events))


def test_the_small_log_survives_a_json_round_trip() -> None:
    events = small_log().events
    round_tripped = [orjson.loads(orjson.dumps(event)) for event in events]
    assert snapshot(fold_events(round_tripped)) == snapshot(fold_events(events))


def test_the_factory_logs_have_gapless_seq_and_ordered_time() -> None:
    for events in (small_log().events, started_log().events):
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        times = [e["t"] for e in events]
        assert times == sorted(times)


def test_each_run_that_did_not_decide_its_task_is_one_duplicate_run() -> None:
    """A run started after its task ended, or ended after it did, or failed after its lease
    was lost, counts once; a lost run that never reports is a redelivery, not a duplicate."""
    state = fold_events(redelivered_log().events)
    assert state.duplicates == DUPLICATE_RUNS
    totals = state.totals()
    assert (totals["succeeded"], totals["redelivered"], totals["pending"]) == (5, 5, 0)


def test_a_late_success_of_a_dead_lettered_task_is_a_duplicate_run_not_a_success() -> None:
    """Dead-lettered is an end too: a lost run reporting afterwards does not undo it."""
    b = LogBuilder(backend="redis://127.0.0.1:6379/0")
    b.run_started()
    b.submit(0.0, "email-000000")
    b.start(0.0, "email-000000", "w01")
    b.redeliver(1.0, "email-000000", lost_worker="w01")
    b.start(1.0, "email-000000", "w02")
    b.fail(1.1, "email-000000", "w02", error="bad_input", run_s=0.1, retry_at=None)
    b.dead_letter(1.1, "email-000000", reason="non_retryable")
    b.lost_run_ended(1.2, "email-000000", "w01", attempt=1, run_s=1.2)
    state = fold_events(b.events)
    assert state.duplicates == 1
    assert (state.succeeded, state.dead_lettered) == (0, 1)
