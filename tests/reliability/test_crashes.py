"""Crashes lose nothing: a worker that raises or dies fails its task with `crash` and the
retry policy takes over; a scheduler bug ends the run as `failed` with a valid log; a
failing dashboard never stops the run; 100,000 tasks through crashes and an outage."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from dtq.cli import main
from dtq.commands import run as run_command
from dtq.core.scheduler import Scheduler
from dtq.core.task import Attempt
from dtq.engine import runner
from dtq.log.verify import Verdict, verdict_lines, verify_log
from dtq.render import dashboard, live
from tests.helpers import scenario
from tests.reliability import big_model, read_events, run_logged, write_scenario

RUN_TIMEOUT_S = 60.0


def _model(**changes: Any) -> Any:
    """~600 short tasks on 4 workers (real clock, time_scale 20), network errors retried."""
    fields: dict[str, Any] = {
        "seed": 5,
        "clock": "real",
        "time_scale": 20,
        "workers": 4,
        "retry": {"max_attempts": 3, "base_delay": "10ms", "retry_on": ["network"]},
        "task_types": {
            "job": {
                "priority": 3,
                "duration": {"dist": "uniform", "low": "1ms", "high": "5ms"},
                "failures": {"network": 0.05},
            }
        },
        "arrivals": [{"pattern": "burst", "task": "job", "count": 600, "over": "1s"}],
    }
    return scenario(**{**fields, **changes})


def _valid(log: Path) -> Verdict:
    verdict = verify_log(log)
    assert verdict.is_valid, verdict_lines(verdict)
    return verdict


def _run_in_thread(model: Any, log: Path, **options: Any) -> runner.RunEnd:
    """Run off the main thread and join with a timeout: a hang fails the test, not CI."""
    outcome: list[runner.RunEnd] = []
    thread = threading.Thread(
        target=lambda: outcome.append(run_logged(model, log, **options)), daemon=True
    )
    thread.start()
    thread.join(timeout=RUN_TIMEOUT_S)
    assert not thread.is_alive(), f"the run did not end within {RUN_TIMEOUT_S:g}s"
    return outcome[0]


# -- workers ------------------------------------------------------------------------------


def test_workers_that_raise_often_lose_no_task(tmp_path: Path) -> None:
    """Task code raising on ~1 attempt in 10 kills the worker; each such task fails with
    `crash`, is retried, and the run accounts for every task."""

    def execute(attempt: Attempt) -> None:
        if attempt.number == 1 and int(attempt.task.id[-6:]) % 10 == 0:  # job-000010 ...
            raise RuntimeError(f"worker blew up on {attempt.task.id}")

    log = tmp_path / "log.jsonl"
    outcome = _run_in_thread(_model(), log, execute=execute)
    verdict = _valid(log)
    crashes = [e for e in read_events(log) if e["event"] == "task_failed" and e["error"] == "crash"]
    assert outcome.status == "completed" and len(crashes) == 60
    assert all(e["will_retry"] and "blew up" in e["message"] for e in crashes)
    assert verdict.pending == 0 and verdict.tasks == 600


def test_a_task_that_kills_every_worker_it_meets_is_dead_lettered_as_lost(tmp_path: Path) -> None:
    """A crash is always retried, up to max_attempts; then the task goes to the DLQ, `lost`."""

    def execute(attempt: Attempt) -> None:
        if attempt.task.id == "job-000042":
            raise MemoryError("the task ate the worker")

    log = tmp_path / "log.jsonl"
    outcome = _run_in_thread(_model(), log, execute=execute)
    _valid(log)
    dead = [e for e in read_events(log) if e.get("task_id") == "job-000042"]
    assert outcome.status == "completed"
    assert [e["event"] for e in dead].count("task_started") == 3
    assert dead[-1]["event"] == "task_dead_lettered"
    assert dead[-1]["reason"] == "lost" and dead[-1]["attempts"] == 3


# -- the scheduler itself -----------------------------------------------------------------


def _broken(method: str, *, at_call: int) -> Any:
    original = getattr(Scheduler, method)
    calls = {"n": 0}

    def broken(self: Scheduler, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == at_call:
            raise RuntimeError(f"bug in Scheduler.{method}")
        return original(self, *args)

    return broken


@pytest.mark.parametrize(
    ("clock", "method"),
    [
        ("real", "finish"),  # raised in a worker thread
        ("real", "submit"),  # raised in the clock thread
        ("real", "release_due"),
        ("virtual", "finish"),
        ("virtual", "start_next"),
    ],
)
def test_a_scheduler_exception_fails_the_run_with_a_valid_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: str, method: str
) -> None:
    """Wherever the scheduler raises, the run ends `failed` with the error, never hangs,
    and the log verifies (tasks cut off by the failure are pending)."""
    # Retries are released only when some are due: a few dozen calls in this run.
    at_call = 5 if method == "release_due" else 40
    monkeypatch.setattr(Scheduler, method, _broken(method, at_call=at_call))
    log = tmp_path / "log.jsonl"
    outcome = _run_in_thread(_model(clock=clock), log)
    last = read_events(log)[-1]
    assert outcome.status == "failed" and last["status"] == "failed"
    assert f"bug in Scheduler.{method}" in last["error"]
    _valid(log)


def test_the_cli_reports_a_scheduler_bug_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dtq run` says the run failed and why, exits 1, and the log ends with run_finished."""
    monkeypatch.setattr(Scheduler, "finish", _broken("finish", at_call=100))
    log = tmp_path / "log.jsonl"
    code = main(["run", "scenarios/fifo.yaml", "--clock", "virtual", "--quiet", "--log", str(log)])
    err = capsys.readouterr().err
    assert code == 1
    assert "dtq: the run failed: RuntimeError: bug in Scheduler.finish" in err
    assert "Traceback" not in err
    _valid(log)


# -- the dashboard ------------------------------------------------------------------------


def test_a_failing_dashboard_never_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """render_dashboard raising on a terminal: one warning, the run completes, exit 0."""

    def broken_render(*_args: Any, **_kwargs: Any) -> Any:
        raise ZeroDivisionError("the dashboard divided by zero")

    screen = io.StringIO()
    monkeypatch.setattr(dashboard, "render_dashboard", broken_render)
    monkeypatch.setattr(live, "render_dashboard", broken_render)
    monkeypatch.setattr(
        run_command,
        "make_console",
        lambda: Console(file=screen, force_terminal=True, width=100, height=30),
    )
    data = {
        "name": "dash",
        "seed": 3,
        "clock": "real",
        "time_scale": 10,
        "workers": 4,
        "task_types": {"job": {"duration": {"dist": "constant", "value": "5ms"}}},
        "arrivals": [{"pattern": "constant", "task": "job", "rate": 200, "until": "3s"}],
    }
    path = write_scenario(tmp_path, data)
    log = tmp_path / "log.jsonl"
    assert main(["run", str(path), "--refresh", "20", "--log", str(log)]) == 0
    assert "disabled (ZeroDivisionError: the dashboard divided by zero)" in screen.getvalue()
    assert _valid(log).tasks == 600


# -- 100,000 tasks through crashes and an outage ----------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)  # 100,000 tasks, and on the real clock
@pytest.mark.parametrize("clock", ["real", "virtual"])
def test_a_hundred_thousand_tasks_through_crashes_and_an_outage_lose_nothing(
    tmp_path: Path, clock: str
) -> None:
    """Every one of 100,000 tasks ends, succeeded or dead-lettered, through 160 worker
    crashes and an outage; the log verifies and its fold equals run_finished."""
    log = tmp_path / "big.jsonl"
    outcome = _run_in_thread(big_model(clock=clock), log)
    verdict = _valid(log)
    assert outcome.status == "completed"
    assert verdict.tasks == 100_000 and verdict.pending == 0 and verdict.unaccounted() == 0
    assert verdict.folded == outcome.totals
    state_errors = verdict.folded["failed"] - verdict.folded["retried"]
    assert state_errors == verdict.ended["dead_lettered"]  # every final failure reached the DLQ
