"""Reliability tests: verify, interruption, crashes, bad input, torture runs.

Shared helpers live here: scenarios built in code, run through the real runner so their
logs open with `run_started` and end with `run_finished`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from dtq.engine import runner
from dtq.errors import LogFormatError
from dtq.log.verify import Verdict, verdict_lines, verify_log
from dtq.scenario import LoadedScenario
from dtq.scenario.models import Scenario
from tests.helpers import scenario

Event = dict[str, Any]


def loaded(model: Scenario, *, name: str = "test") -> LoadedScenario:
    """A scenario built in code, as if loaded from `<name>.yaml`."""
    return LoadedScenario(Path(f"{name}.yaml"), name, model, "0" * 64)


def run_logged(model: Scenario, log: Path, **options: Any) -> runner.RunEnd:
    """Run `model` with the real runner (its clock as written), logging to `log`."""
    return runner.run(loaded(model), log_path=log, **options)


def big_model(*, clock: str, tasks: int = 100_000) -> Any:
    """`tasks` tasks on 32 workers; 4 workers crash every 100ms (back 30ms later) for 4s;
    an outage fails half the attempts for a second; network errors are retried."""
    crashes = [
        {"kind": "worker_crash", "at": f"{50 + 100 * i}ms", "workers": 4, "restart_after": "30ms"}
        for i in range(40)
    ]
    return scenario(
        name="big",
        seed=3,
        clock=clock,
        time_scale=8,
        workers=32,
        retry={
            "max_attempts": 5,
            "backoff": "exponential",
            "base_delay": "10ms",
            "max_delay": "100ms",
            "jitter": "full",
            "retry_on": ["network"],
        },
        task_types={
            "a": {
                "priority": 2,
                "duration": {"dist": "exponential", "mean": "1ms"},
                "failures": {"network": 0.05},
            },
            "b": {
                "priority": 7,
                "duration": {"dist": "uniform", "low": "0ms", "high": "2ms"},
                "failures": {"network": 0.05, "bad_input": 0.01},
            },
        },
        arrivals=[
            {"pattern": "constant", "task": "a", "rate": tasks // 8, "until": "4s"},
            {"pattern": "burst", "task": "b", "count": tasks // 2, "at": "0s", "over": "3s"},
        ],
        faults=[
            {"kind": "outage", "from": "1s", "until": "2s", "error": "network", "rate": 0.5},
            *crashes,
        ],
    )


def read_events(log: Path) -> list[Event]:
    """Every event of a whole, uncut log."""
    return [orjson.loads(line) for line in log.read_bytes().splitlines()]


def write_events(log: Path, events: list[Event]) -> Path:
    """Write events as JSON lines and return the path."""
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return log


def write_scenario(folder: Path, data: dict[str, Any]) -> Path:
    """Write a scenario dict as `<folder>/<name>.yaml` and return the path."""
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# -- stopping real `dtq run` processes at random moments -----------------------------------

# About 2,000 tasks over 8 scenario-seconds at time_scale 10: each run lasts at least 0.8 s
# of wall time after its log appears (the real clock waits for the last arrival), with
# bursts, retries waiting out their backoff, an outage and worker crashes.
TORTURE_SCENARIO: dict[str, Any] = {
    "name": "torture",
    "seed": 11,
    "clock": "real",
    "time_scale": 10,
    "workers": 8,
    "retry": {
        "max_attempts": 4,
        "backoff": "exponential",
        "base_delay": "200ms",
        "max_delay": "1s",
        "jitter": "full",
        "retry_on": ["network"],
    },
    "task_types": {
        "email": {
            "priority": 2,
            "duration": {"dist": "exponential", "mean": "4ms"},
            "failures": {"network": 0.1, "bad_input": 0.01},
            "timeout": "50ms",
        },
        "report": {"priority": 8, "duration": {"dist": "uniform", "low": "5ms", "high": "15ms"}},
    },
    "arrivals": [
        {"pattern": "burst", "task": "email", "count": 600, "at": "0s", "over": "1s"},
        {"pattern": "poisson", "task": "email", "rate": 100, "from": "0s", "until": "8s"},
        {"pattern": "burst", "task": "report", "count": 600, "at": "2s", "over": "4s"},
    ],
    "faults": [
        {"kind": "outage", "from": "1s", "until": "3s", "error": "network", "rate": 0.6},
        {"kind": "worker_crash", "at": "1500ms", "workers": 3, "restart_after": "300ms"},
        {"kind": "worker_crash", "at": "3500ms", "workers": 2, "restart_after": "100ms"},
        {"kind": "worker_crash", "at": "6s", "workers": 4, "restart_after": "200ms"},
    ],
}
# Signals land within this many seconds of the log appearing: always inside the run.
TORTURE_MAX_DELAY_S = 0.6
STOPS = ("SIGINT", "SIGTERM", "SIGKILL", "SIGINT twice")


@dataclass
class StoppedRun:
    """One `dtq run` process stopped by a signal: what was sent, how it ended, its log."""

    how: str
    delay_s: float
    log: Path
    returncode: int | None = None
    stderr: str = ""
    problems: list[str] = field(default_factory=list)


def stop_run(scenario: Path, log: Path, *, how: str, delay_s: float) -> StoppedRun:
    """Start `dtq run`, wait for its log, sleep `delay_s`, send the signal(s), wait for it."""
    result = StoppedRun(how, delay_s, log)
    command = [sys.executable, "-m", "dtq", "run", str(scenario), "--plain", "--log", str(log)]
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            _wait_for(log, process, timeout_s=30.0)
            time.sleep(delay_s)
            if how == "SIGKILL":
                process.send_signal(signal.SIGKILL)
            elif how == "SIGINT twice":
                process.send_signal(signal.SIGINT)
                time.sleep(0.05)
                process.send_signal(signal.SIGINT)
            else:
                process.send_signal(getattr(signal, how))
            _, result.stderr = process.communicate(timeout=60.0)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=10.0)
                result.problems.append("did not stop within 60 s of the signal")
        result.returncode = process.returncode
    return result


def _wait_for(log: Path, process: subprocess.Popen[str], *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not log.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"dtq run never opened its log {log} (exit {process.poll()})")
        time.sleep(0.005)


def check_stopped(run: StoppedRun) -> Verdict | None:
    """Add to `run.problems` whatever breaks the promises; returns the log's verdict."""
    if "Traceback" in run.stderr:
        run.problems.append(f"a traceback on stderr:\n{run.stderr}")
    try:
        verdict = verify_log(run.log)
    except LogFormatError as exc:
        run.problems.append(f"unreadable log: {exc}")
        return None
    lines = verdict_lines(verdict)
    if verdict.violation_count:
        run.problems.append("corrupt log:\n" + "\n".join(lines))
    if run.how == "SIGKILL":
        if run.returncode not in (-signal.SIGKILL, 0):
            run.problems.append(f"exit {run.returncode} after SIGKILL")
        if run.returncode == 0 and not verdict.is_finished:
            run.problems.append("exit 0 but the log has no run_finished")
    elif verdict.status == "completed":  # it may finish before the signal lands
        if run.returncode not in (0, 130):
            run.problems.append(f"completed but exit {run.returncode}")
    elif verdict.status != "interrupted" or run.returncode != 130:
        run.problems.append(
            f"{run.how}: status {verdict.status}, exit {run.returncode} "
            "(want interrupted and 130)\n" + "\n".join(lines)
        )
    return verdict
