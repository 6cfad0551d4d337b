"""SIGINT and SIGTERM at any moment leave a complete log and exit 130; SIGKILL leaves a
readable, unfinished one. The torture test stops 50 real runs at random moments."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import dtq.scenario as scenario_package
from dtq.cli import main
from dtq.engine import runner
from dtq.log.sink import JsonLinesFile
from dtq.log.verify import verdict_lines, verify_log
from dtq.render import dashboard
from dtq.render.dashboard import render_summary
from dtq.scenario import LoadedScenario, load_scenario
from tests.helpers import scenario
from tests.reliability import (
    STOPS,
    TORTURE_MAX_DELAY_S,
    TORTURE_SCENARIO,
    check_stopped,
    read_events,
    run_logged,
    stop_run,
    write_scenario,
)

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be installed from the main thread",
)


@pytest.fixture(autouse=True)
def _restore_signal_handlers() -> Iterator[None]:
    """`dtq run` ignores SIGINT/SIGTERM once stopped (the process is exiting): undo that."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _signal_self_while_loading(monkeypatch: pytest.MonkeyPatch, sig: signal.Signals) -> None:
    """Make `dtq run` receive `sig` in the middle of loading its scenario."""

    def load(path: str, **options: Any) -> LoadedScenario:
        os.kill(os.getpid(), sig)
        return load_scenario(path, **options)

    monkeypatch.setattr(scenario_package, "load_scenario", load)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_loading_still_writes_a_complete_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals
) -> None:
    """Stopped before the engine exists: run_started + run_finished(interrupted), exit 130."""
    _signal_self_while_loading(monkeypatch, sig)
    log = tmp_path / "log.jsonl"
    assert main(["run", "scenarios/burst.yaml", "--quiet", "--log", str(log)]) == 130
    events = read_events(log)
    assert [e["event"] for e in events] == ["run_started", "run_finished"]
    assert events[-1]["status"] == "interrupted"
    assert verify_log(log).is_valid


def test_a_signal_while_loading_with_no_log_possible_still_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the log cannot be opened either, the error is said and the exit is still 130."""
    _signal_self_while_loading(monkeypatch, signal.SIGINT)
    (tmp_path / "afile").write_text("")
    log = tmp_path / "afile" / "log.jsonl"
    assert main(["run", "scenarios/burst.yaml", "--quiet", "--log", str(log)]) == 130
    assert f"cannot write the event log at {log}" in capsys.readouterr().err


def test_a_signal_during_a_flush_never_tears_a_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal that lands between the two halves of a write only sets a flag: the batch is
    written whole, the run stops after it, and the log verifies."""
    real_msg = JsonLinesFile.msg
    writes = {"count": 0}

    def msg_with_a_signal_inside(self: JsonLinesFile, data: bytes) -> None:
        writes["count"] += 1
        if writes["count"] != 3:
            real_msg(self, data)
            return
        half = len(data) // 2
        real_msg(self, data[:half])
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, mid-batch
        real_msg(self, data[half:])

    monkeypatch.setattr(JsonLinesFile, "msg", msg_with_a_signal_inside)
    loaded = load_scenario("scenarios/burst.yaml").with_overrides(clock="virtual")
    log = tmp_path / "log.jsonl"
    outcome = runner.run(loaded, log_path=log)
    assert writes["count"] >= 3
    assert outcome.status == "interrupted"
    verdict = verify_log(log)
    assert verdict.is_valid, verdict_lines(verdict)
    assert 0 < verdict.pending < verdict.tasks


def _slow_model(**changes: Any) -> Any:
    """Two workers on 500 ms attempts (real clock): a stop always finds both busy, and
    one grace period (1 s) is long enough for their attempts to end."""
    fields: dict[str, Any] = {
        "clock": "real",
        "workers": 2,
        "task_types": {"job": {"priority": 5, "duration": {"dist": "constant", "value": "500ms"}}},
        "arrivals": [{"pattern": "burst", "task": "job", "count": 6}],
    }
    return scenario(**{**fields, **changes})


Condition = Callable[[Any], bool]


def _both_busy(engine: Any) -> bool:
    return all(attempt is not None for attempt in engine.sched.current)


def _only_retries_wait(engine: Any) -> bool:
    sched = engine.sched
    idle = all(attempt is None for attempt in sched.current)
    return sched.waiting_retries == 6 and not sched.ready and idle


def _signal_when(condition: Condition, times: int) -> tuple[list[runner.Engine], threading.Thread]:
    """A thread that waits until `condition(engine)` holds, then sends SIGINT `times`
    times; after the first it waits until the engine has begun its grace period."""
    engines: list[runner.Engine] = []

    def send() -> None:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not (engines and condition(engines[0])):
            time.sleep(0.002)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(times - 1):
            # The grace period starts when the clock thread sees the first request.
            while not getattr(engines[0], "_stopping", True) and time.monotonic() < deadline:
                time.sleep(0.002)
            os.kill(os.getpid(), signal.SIGINT)

    return engines, threading.Thread(target=send, daemon=True)


@pytest.mark.parametrize("signals", [1, 2])
def test_a_second_sigint_cuts_the_grace_period(tmp_path: Path, signals: int) -> None:
    """One SIGINT lets the running attempts finish (grace); a second stops at once and
    leaves them pending. Either way the log is complete and valid."""
    engines, sender = _signal_when(_both_busy, signals)
    log = tmp_path / "log.jsonl"
    sender.start()
    outcome = run_logged(_slow_model(), log, on_engine=engines.append)
    sender.join(timeout=10.0)
    verdict = verify_log(log)
    assert outcome.status == "interrupted" and verdict.is_valid, verdict_lines(verdict)
    finished = verdict.ended["succeeded"]
    if signals == 1:
        assert finished == 2 and verdict.pending == 4  # both running attempts ended in grace
    else:
        assert finished == 0 and verdict.pending == 6  # cut short: both stay pending


def test_a_sigint_while_retries_wait_leaves_them_pending(tmp_path: Path) -> None:
    """Stopped while every task waits out a long backoff: they are pending in a valid log."""
    model = _slow_model(
        workers=6,
        retry={"max_attempts": 3, "backoff": "fixed", "base_delay": "30s"},
        task_types={
            "job": {"duration": {"dist": "constant", "value": "1ms"}, "failures": {"network": 1}}
        },
    )
    engines, sender = _signal_when(_only_retries_wait, 1)
    log = tmp_path / "log.jsonl"
    sender.start()
    outcome = run_logged(model, log, on_engine=engines.append)
    sender.join(timeout=10.0)
    verdict = verify_log(log)
    assert outcome.status == "interrupted" and verdict.is_valid, verdict_lines(verdict)
    assert verdict.pending == 6 and verdict.folded["retried"] == 6


def test_a_stop_request_after_the_run_still_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C while the summary prints: the log says completed, the command exits 130."""

    def summary_with_a_signal(state: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        return render_summary(state)

    monkeypatch.setattr(dashboard, "render_summary", summary_with_a_signal)
    log = tmp_path / "log.jsonl"
    code = main(["run", "scenarios/fifo.yaml", "--clock", "virtual", "--quiet", "--log", str(log)])
    assert code == 130
    assert read_events(log)[-1]["status"] == "completed"


def test_once_stopped_a_late_signal_is_absorbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a stopped run returns, a second Ctrl-C (the process is exiting with 130) is
    ignored, not passed to the handlers from before (default: KeyboardInterrupt, death)."""
    reached: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: reached.append(signum))
    _signal_self_while_loading(monkeypatch, signal.SIGINT)
    log = tmp_path / "log.jsonl"
    assert main(["run", "scenarios/fifo.yaml", "--quiet", "--log", str(log)]) == 130
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.01)  # a Python handler runs at the next bytecode boundary
    assert reached == []


def test_handlers_are_restored_after_the_run(tmp_path: Path) -> None:
    """`dtq run` in-process leaves SIGINT/SIGTERM as it found them."""
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    log = tmp_path / "log.jsonl"
    assert main(
        ["run", "scenarios/fifo.yaml", "--clock", "virtual", "--quiet", "--log", str(log)]
    ) in (0, 1)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


# -- torture: real processes, random moments ---------------------------------------------

TORTURE_RUNS = 50
TORTURE_PARALLEL = 4


@pytest.mark.slow
@pytest.mark.timeout(1200)  # 50 processes: minutes on a busy machine
def test_torture_fifty_runs_stopped_at_random_moments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """50 `dtq run` processes, 4 at a time, each stopped by SIGINT, SIGTERM, SIGKILL or two
    SIGINTs after a random delay: every log verifies (killed ones as unfinished, not corrupt),
    every SIGINT/SIGTERM run exits 130, and report and replay read every killed log."""
    path = write_scenario(tmp_path, TORTURE_SCENARIO)
    rng = random.Random(20240611)
    plans = [
        (STOPS[i % len(STOPS)], rng.uniform(0.0, TORTURE_MAX_DELAY_S)) for i in range(TORTURE_RUNS)
    ]
    with ThreadPoolExecutor(max_workers=TORTURE_PARALLEL) as pool:
        runs = list(
            pool.map(
                lambda i: stop_run(
                    path, tmp_path / f"run-{i:02d}.jsonl", how=plans[i][0], delay_s=plans[i][1]
                ),
                range(TORTURE_RUNS),
            )
        )
    verdicts = [check_stopped(run) for run in runs]
    problems = [f"{r.how} after {r.delay_s:.3f}s: {p}" for r in runs for p in r.problems]
    assert not problems, "\n".join(problems)
    assert sum(v.unaccounted() for v in verdicts if v is not None) == 0
    killed = [r.log for r in runs if r.how == "SIGKILL"]
    interrupted = [v for v in verdicts if v is not None and v.status == "interrupted"]
    assert len(interrupted) >= TORTURE_RUNS // 2  # most signals land mid-run, as intended
    for log in killed:
        assert main(["report", str(log)]) == 0
        assert main(["replay", "--final", "--plain", str(log)]) == 0
    capsys.readouterr()
