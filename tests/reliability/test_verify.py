"""`dtq verify`: valid logs pass; each broken invariant is named with its line and task."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtq.cli import main
from dtq.engine import runner
from dtq.errors import LogFormatError
from dtq.log.reader import fold_log
from dtq.log.verify import Verdict, verdict_lines, verify_log
from dtq.render.dashboard import summary_lines
from dtq.scenario import load_scenario
from tests.eventlog_factory import DUPLICATE_RUNS, LogBuilder, redelivered_log, small_log
from tests.helpers import scenario
from tests.reliability import read_events, run_logged, write_events

Event = dict[str, Any]


def _messages(verdict: Verdict) -> list[str]:
    return [v.render(verdict.path) for v in verdict.violations]


def _line_of(events: list[Event], name: str, task_id: str, nth: int = 0) -> int:
    """The 1-based line of the nth `name` event of `task_id`."""
    lines = [
        i + 1 for i, e in enumerate(events) if e["event"] == name and e.get("task_id") == task_id
    ]
    return lines[nth]


def _renumbered(events: list[Event]) -> list[Event]:
    """The events with seq 1, 2, 3 ... again (to break one invariant, not also seq)."""
    return [{**e, "seq": i + 1} for i, e in enumerate(events)]


def _two_task_log() -> LogBuilder:
    """Two emails on two workers, one retried once; max_attempts 3."""
    b = LogBuilder(expected_tasks=2)
    b.run_started()
    b.emit(0.0, "worker_started", worker="w01")
    b.emit(0.0, "worker_started", worker="w02")
    b.submit(0.0, "email-000001")
    b.submit(0.0, "email-000002")
    b.start(0.0, "email-000001", "w01")
    b.start(0.0, "email-000002", "w02")
    b.succeed(0.1, "email-000001", "w01", run_s=0.1)
    b.fail(0.1, "email-000002", "w02", error="network", run_s=0.1, retry_at=0.2)
    b.retry_ready(0.2, "email-000002")
    b.start(0.2, "email-000002", "w01")
    b.succeed(0.3, "email-000002", "w01", run_s=0.1)
    b.emit(0.3, "worker_stopped", worker="w01")
    b.emit(0.3, "worker_stopped", worker="w02")
    b.run_finished(0.3)
    return b


# -- valid logs ---------------------------------------------------------------------------


def test_the_factory_logs_are_valid(tmp_path: Path) -> None:
    """Hand-built logs that follow the contract verify clean (else every test below is moot)."""
    for name, builder in (("small", small_log()), ("two", _two_task_log())):
        verdict = verify_log(builder.write(tmp_path / f"{name}.jsonl"))
        assert verdict.is_valid, _messages(verdict)
        assert verdict.exit_code() == 0


def test_a_real_virtual_run_verifies_and_the_cli_says_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log written by `dtq run` (burst, virtual clock) passes with exit 0 and says why."""
    log = tmp_path / "burst.jsonl"
    loaded = load_scenario("scenarios/burst.yaml").with_overrides(clock="virtual")
    outcome = runner.run(loaded, log_path=log)
    assert main(["verify", str(log)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok  {log}: status completed;")
    assert f"{outcome.totals['submitted']:,} tasks" in out


def test_an_interrupted_run_with_pending_tasks_is_valid(tmp_path: Path) -> None:
    """Tasks started but never ended in an interrupted run are pending, not a violation."""
    b = LogBuilder(expected_tasks=2)
    b.run_started()
    b.submit(0.0, "email-000001")
    b.submit(0.0, "email-000002")
    b.start(0.0, "email-000001", "w01")
    b.start(0.0, "email-000002", "w02")
    b.emit(0.05, "worker_stopped", worker="w01")
    b.emit(0.05, "worker_stopped", worker="w02")
    b.run_finished(0.05, status="interrupted")
    verdict = verify_log(b.write(tmp_path / "log.jsonl"))
    assert verdict.is_valid, _messages(verdict)
    assert verdict.pending == 2 and verdict.status == "interrupted"


# -- the acceptance: a hand-damaged log ---------------------------------------------------


def test_each_hand_made_defect_is_named_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A duplicated task_succeeded, a missing task_started and a gap in seq: all three named."""
    events = _two_task_log().events
    dup_at = _line_of(events, "task_succeeded", "email-000001")
    events.insert(dup_at, dict(events[dup_at - 1]))  # same seq, right after the original
    missing_at = _line_of(events, "task_started", "email-000002", nth=1)
    del events[missing_at - 1]  # also leaves a gap in seq right there
    log = write_events(tmp_path / "damaged.jsonl", events)
    assert main(["verify", str(log)]) == 1
    out = capsys.readouterr().out
    dup_line, gap_line = dup_at + 1, missing_at
    assert f"{log}:{dup_line}: seq {dup_line - 1} after {dup_line - 1}" in out
    assert (
        f"{log}:{dup_line}: task email-000001: task_succeeded after the task already "
        f"succeeded (line {dup_at})" in out
    )
    assert f"{log}:{gap_line}: seq jumps from {gap_line - 2} to {gap_line}" in out
    succeeded_line = _line_of(events, "task_succeeded", "email-000002")
    assert (
        f"{log}:{succeeded_line}: task email-000002: task_succeeded without a task_started" in out
    )
    assert re.search(
        rf"invalid: {re.escape(str(log))}: \d+ violations \(first on line {dup_line}\)", out
    )


# -- one invariant at a time --------------------------------------------------------------


def _verify_events(tmp_path: Path, events: list[Event]) -> list[str]:
    verdict = verify_log(write_events(tmp_path / "log.jsonl", _renumbered(events)))
    assert verdict.exit_code() == 1
    return _messages(verdict)


def test_the_first_event_must_be_run_started(tmp_path: Path) -> None:
    """A log that does not open with run_started is named at line 1."""
    messages = _verify_events(tmp_path, _two_task_log().events[1:])
    assert messages[0].endswith(":1: the log must start with run_started, not worker_started")


def test_nothing_may_follow_run_finished(tmp_path: Path) -> None:
    """An event after run_finished is a violation (two runs glued together, or a stray line)."""
    events = _two_task_log().events
    events.append({"seq": 0, "t": 0.3, "event": "worker_stopped", "worker": "w01"})
    messages = _verify_events(tmp_path, events)
    assert messages == [
        f"{tmp_path / 'log.jsonl'}:{len(events)}: worker_stopped after run_finished "
        f"(line {len(events) - 1})"
    ]


def test_a_task_on_two_workers_at_once_is_named(tmp_path: Path) -> None:
    """Invariant 3: a second task_started while the first attempt runs (memory backend)."""
    b = _two_task_log()
    started = _line_of(b.events, "task_started", "email-000001")
    twin = {**b.events[started - 1], "worker": "w02", "attempt": 1}
    b.events.insert(started, twin)
    messages = _verify_events(tmp_path, b.events)
    assert any(
        f":{started + 1}: task email-000001: started on w02 while attempt 1 still runs on w01" in m
        for m in messages
    ), messages


def test_attempts_over_max_attempts_are_named(tmp_path: Path) -> None:
    """Invariant 2: an attempt numbered above max_attempts."""
    b = LogBuilder(max_attempts=2)
    b.run_started()
    b.submit(0.0, "email-000001")
    for attempt in range(3):
        b.start(0.1 * attempt, "email-000001", "w01")
        b.fail(0.1 * attempt, "email-000001", "w01", error="network", run_s=0.0, retry_at=0.1)
        b.retry_ready(0.1 * attempt, "email-000001")
    messages = _verify_events(tmp_path, b.events)
    assert any("will retry after attempt 2 of 2" in m for m in messages), messages
    assert any("attempt 3 is over max_attempts (2)" in m for m in messages), messages


def test_attempts_must_count_up_by_one(tmp_path: Path) -> None:
    """Invariant 2: attempts count 1, 2, 3 with no skip."""
    b = _two_task_log()
    second = _line_of(b.events, "task_started", "email-000002", nth=1)
    b.events[second - 1]["attempt"] = 3
    messages = _verify_events(tmp_path, b.events)
    assert any("task email-000002: attempt 3 follows attempt 1" in m for m in messages)


def test_a_retry_before_its_retry_ready_is_named(tmp_path: Path) -> None:
    """A task started again while it still waits out its backoff."""
    b = _two_task_log()
    del b.events[_line_of(b.events, "task_retry_ready", "email-000002") - 1]
    messages = _verify_events(tmp_path, b.events)
    assert any("task_started while the task is waiting for a retry" in m for m in messages)


def test_a_completed_run_with_an_unended_task_is_named(tmp_path: Path) -> None:
    """Invariant 1: status completed but a task never ended."""
    b = _two_task_log()
    b.events = [e for e in b.events if not (e.get("task_id") == "email-000002" and e["seq"] > 8)]
    b.events[-1]["totals"]["pending"] = 1
    b.events[-1]["totals"]["succeeded"] = 1
    messages = _verify_events(tmp_path, b.events)
    assert any(
        "the run completed with 1 tasks that never ended, e.g. email-000002" in m for m in messages
    ), messages


def test_a_final_failure_needs_its_dead_letter(tmp_path: Path) -> None:
    """A task_failed with will_retry false and no task_dead_lettered after it is named."""
    b = small_log()
    b.events = [e for e in b.events if e["event"] != "task_dead_lettered"]
    b.events[-1]["totals"]["dead_lettered"] = 0
    b.events[-1]["totals"]["pending"] = 1
    b.events[-1]["status"] = "interrupted"
    messages = _verify_events(tmp_path, b.events)
    assert any("task email-000003: failed for good but never dead-lettered" in m for m in messages)


def test_totals_that_differ_from_the_fold_are_named(tmp_path: Path) -> None:
    """Invariant 4: run_finished.totals must equal folding the log."""
    b = _two_task_log()
    b.events[-1]["totals"]["retried"] = 5
    messages = _verify_events(tmp_path, b.events)
    assert messages == [
        f"{tmp_path / 'log.jsonl'}:{len(b.events)}: run_finished says retried 5, "
        "folding the log gives 1"
    ]


def test_totals_that_do_not_add_up_are_named(tmp_path: Path) -> None:
    """submitted = succeeded + dead_lettered + pending, in run_finished itself."""
    b = _two_task_log()
    b.events[-1]["totals"]["submitted"] = 3
    messages = _verify_events(tmp_path, b.events)
    assert "totals do not add up: submitted 3 != succeeded 2" in messages[0]


def test_time_going_back_is_named(tmp_path: Path) -> None:
    """Events are in the order state changed: t never decreases (one process, one clock)."""
    b = _two_task_log()
    assert b.events[10]["event"] == "task_started" and b.events[9]["t"] == 0.2
    b.events[10]["t"] = 0.15
    messages = _verify_events(tmp_path, b.events)
    assert any(":11: task email-000002: t goes back from 0.2 to 0.15" in m for m in messages)


def test_a_task_submitted_twice_is_named(tmp_path: Path) -> None:
    """Each task id is submitted once."""
    b = _two_task_log()
    b.events.insert(4, dict(b.events[3]))
    messages = _verify_events(tmp_path, b.events)
    assert any("task email-000001: submitted again (first on line 4)" in m for m in messages)


# -- Redis: duplicates after a lost lease are counted, not failed -----------------------


def _redis_log() -> LogBuilder:
    """email-000001's lease is lost on w01; w02 runs it again, then w01 finishes late."""
    b = LogBuilder(expected_tasks=1)
    b.run_started()
    b.events[0]["backend"] = "redis://127.0.0.1:6379/0"
    b.submit(0.0, "email-000001")
    b.start(0.0, "email-000001", "w01")
    b.redeliver(1.0, "email-000001", lost_worker="w01")
    b.start(1.0, "email-000001", "w02")
    b.succeed(1.1, "email-000001", "w02", run_s=0.1)
    b.events.append(
        {**b.events[-1], "seq": len(b.events) + 1, "worker": "w01", "attempt": 1, "t": 1.2}
    )
    b.run_finished(1.2)
    return b


def test_redis_duplicate_runs_after_a_lost_lease_are_counted(tmp_path: Path) -> None:
    """With Redis, a second run after task_redelivered and the lost run's late end are allowed."""
    verdict = verify_log(_redis_log().write(tmp_path / "redis.jsonl"))
    assert verdict.is_valid, _messages(verdict)
    assert verdict.duplicates == 1
    assert "1 duplicate runs after lost leases" in verdict_lines(verdict)[-1]


def test_verify_and_report_count_the_same_duplicate_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four tasks ran twice: verify, report (text and json), the summary and diff say 4."""
    log = redelivered_log().write(tmp_path / "redis.jsonl")
    verdict = verify_log(log)
    assert verdict.is_valid, _messages(verdict)
    assert verdict.duplicates == DUPLICATE_RUNS
    assert f"{DUPLICATE_RUNS} duplicate runs after lost leases" in verdict_lines(verdict)[-1]
    assert main(["report", str(log), "--format", "json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["duplicate_runs"] == DUPLICATE_RUNS
    assert main(["report", str(log)]) == 0
    assert re.search(rf"duplicate runs\s+{DUPLICATE_RUNS}\b", capsys.readouterr().out)
    assert f"  duplicates    {DUPLICATE_RUNS}" in summary_lines(fold_log(log)[0])
    main(["diff", str(log), str(log), "--format", "json"])
    totals = {row["name"]: row for row in orjson.loads(capsys.readouterr().out)["totals"]}
    assert (totals["duplicate_runs"]["a"], totals["duplicate_runs"]["b"]) == (4, 4)


def test_redelivery_in_a_memory_log_is_a_violation(tmp_path: Path) -> None:
    """The memory backend never loses a lease: task_redelivered there is a violation."""
    b = _redis_log()
    b.events[0]["backend"] = "memory"
    messages = _verify_events(tmp_path, b.events)
    assert any("task_redelivered in a memory-backend log" in m for m in messages)


# -- unfinished, not corrupt ----------------------------------------------------------------


def test_a_log_without_run_finished_is_unfinished_not_corrupt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A killed run: exit 1, `unfinished`, and no violation."""
    events = _two_task_log().events[:-3]
    log = write_events(tmp_path / "killed.jsonl", events)
    assert main(["verify", str(log)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"unfinished: {log}: no run_finished")
    assert "not corrupt" in out and "invalid" not in out


def test_a_cut_last_line_is_named_and_ignored(tmp_path: Path) -> None:
    """SIGKILL mid-write: the cut line is named, the rest verified."""
    log = _two_task_log().write(tmp_path / "cut.jsonl")
    data = log.read_bytes()
    log.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 20])
    verdict = verify_log(log)
    assert not verdict.is_finished and verdict.violation_count == 0 and verdict.truncated
    lines = len(_two_task_log().events)
    assert f"line {lines} was cut short and is ignored" in verdict_lines(verdict)[-1]


def test_an_empty_log_is_unfinished(tmp_path: Path) -> None:
    """Killed before the first line was flushed: unfinished, exit 1."""
    log = tmp_path / "empty.jsonl"
    log.write_bytes(b"")
    verdict = verify_log(log)
    assert verdict.exit_code() == 1 and not verdict.is_finished and verdict.events == 0


# -- unreadable: exit 2 with the line ----------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"\x00\xff garbage \xfe", "not UTF-8 text"),
        (b"[1, 2, 3]", "not a JSON object (got list)"),
        (b'{"hello": "world"}', "missing field 'seq'"),
        (
            b'{"seq": 3, "t": 0.0, "event": "task_started", "task_id": "email-000001"}',
            "task_started has no 'type' field",
        ),
        (
            b'{"seq": 3, "t": 0.0, "event": "task_submitted", "task_id": "email-000001",'
            b' "type": "email", "priority": "high"}',
            "task_submitted: 'priority' must be an integer (got 'high')",
        ),
    ],
)
def test_a_line_that_is_not_an_event_is_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: bytes, expected: str
) -> None:
    """Garbage, JSON that is not an event, or an event missing its fields: exit 2, line 3."""
    log = _two_task_log().write(tmp_path / "bad.jsonl")
    lines = log.read_bytes().splitlines(keepends=True)
    lines[2] = line + b"\n"
    log.write_bytes(b"".join(lines))
    with pytest.raises(LogFormatError, match=re.escape(f"{log}:3: ")):
        verify_log(log)
    assert main(["verify", str(log)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dtq: {log}:3: ") and expected in err and "Traceback" not in err


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    """No such file: exit 2 with a message, no traceback."""
    assert main(["verify", str(tmp_path / "nope.jsonl")]) == 2


# -- properties ----------------------------------------------------------------------------

DAMAGE_BASE = scenario(
    clock="virtual",
    workers=3,
    retry={"max_attempts": 3, "base_delay": "5ms", "retry_on": ["network"]},
    task_types={
        "job": {
            "priority": 3,
            "duration": {"dist": "exponential", "mean": "10ms"},
            "failures": {"network": 0.3, "bad_input": 0.05},
        }
    },
    arrivals=[{"pattern": "burst", "task": "job", "count": 30, "over": "200ms"}],
    faults=[{"kind": "worker_crash", "at": "50ms", "workers": 2, "restart_after": "20ms"}],
)


@pytest.fixture(scope="module")
def damage_base(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    """The events of one small, valid run with retries, a dead letter and a crash."""
    log = tmp_path_factory.mktemp("base") / "log.jsonl"
    assert run_logged(DAMAGE_BASE, log).status == "completed"
    assert verify_log(log).is_valid
    return read_events(log)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_removing_repeating_or_swapping_any_line_is_caught(
    tmp_path: Path, damage_base: list[Event], data: st.DataObject
) -> None:
    """Any one line dropped, repeated or swapped with the next: never verifies as valid."""
    events = damage_base
    index = data.draw(st.integers(0, len(events) - 2), label="line index")
    how = data.draw(st.sampled_from(["drop", "repeat", "swap"]), label="damage")
    damaged = list(events)
    if how == "drop":
        del damaged[index]
    elif how == "repeat":
        damaged.insert(index, damaged[index])
    else:
        damaged[index], damaged[index + 1] = damaged[index + 1], damaged[index]
    verdict = verify_log(write_events(tmp_path / "damaged.jsonl", damaged))
    assert not verdict.is_valid


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    workers=st.integers(1, 6),
    policy=st.sampled_from(["priority", "fifo"]),
    rate=st.floats(0.0, 0.6),
)
def test_every_virtual_run_verifies(
    tmp_path_factory: pytest.TempPathFactory, seed: int, workers: int, policy: str, rate: float
) -> None:
    """Whatever the seed, workers and failure rate, the engine's log passes every check."""
    model = scenario(
        clock="virtual",
        seed=seed,
        workers=workers,
        scheduler={"policy": policy},
        retry={"max_attempts": 3, "base_delay": "1ms", "retry_on": ["network"]},
        task_types={
            "a": {
                "priority": 1,
                "duration": {"dist": "exponential", "mean": "3ms"},
                "failures": {"network": rate, "bad_input": rate / 10},
                "timeout": "8ms",
            },
            "b": {"priority": 9, "duration": {"dist": "uniform", "low": "1ms", "high": "4ms"}},
        },
        arrivals=[
            {"pattern": "burst", "task": "a", "count": 40},
            {"pattern": "poisson", "task": "b", "rate": 500, "until": "100ms"},
        ],
        faults=[
            {"kind": "outage", "from": "10ms", "until": "40ms", "error": "network", "rate": 0.8},
            {"kind": "worker_crash", "at": "20ms", "workers": 1, "restart_after": "5ms"},
        ],
    )
    log = tmp_path_factory.mktemp("run") / "log.jsonl"
    outcome = run_logged(model, log)
    verdict = verify_log(log)
    assert outcome.status == "completed" and verdict.is_valid, _messages(verdict)
    assert verdict.tasks == outcome.totals["submitted"] == verdict.folded["submitted"]


def test_a_near_zero_retry_delay_never_sends_time_backwards(tmp_path: Path) -> None:
    """A backoff below the microsecond the log keeps must not round a retry to before the
    failure that caused it (found by `make stress` on a million-task run)."""
    model = scenario(
        clock="virtual",
        workers=3,
        retry={"max_attempts": 5, "backoff": "fixed", "base_delay": "0.0002ms"},
        task_types={
            "job": {
                "duration": {"dist": "exponential", "mean": "3ms"},
                "failures": {"network": 0.5},
            }
        },
        arrivals=[{"pattern": "poisson", "task": "job", "rate": 1000, "until": "500ms"}],
    )
    log = tmp_path / "log.jsonl"
    assert run_logged(model, log).status == "completed"
    verdict = verify_log(log)
    assert verdict.is_valid, _messages(verdict)
    assert verdict.folded["retried"] > 100
